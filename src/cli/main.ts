#!/usr/bin/env node
/**
 * `rxfeed`: the command line (`npx rxfeed <command>`): look inside shards and datasets (`ls`,
 * `inspect`), write their random-access indexes (`index`), measure how fast they read (`bench`),
 * and convert between formats (`convert`).
 *
 * Exit status: 0 on success; 1 for a typed failure (an `RxfeedError`, printed as one line
 * `rxfeed <command>: <code>: <message>` on stderr); 2 for a usage error (commander's message);
 * 70 for an unexpected error (its stack with `--debug`); 130 after Ctrl-C, which closes the
 * files, HTTP bodies and cursors being read.
 *
 * @module
 * @internal
 */
import { Command, CommanderError, InvalidArgumentError as UsageError, Option } from 'commander';
import { packageVersion } from '../version.js';
import { bench, benchTable, type BenchOptions } from './bench.js';
import { buildIndexes, checkIndexable, indexTable } from './buildIndex.js';
import { convert, convertTable, CONVERT_HELP, type ConvertOptions } from './convert.js';
import { FORMATS, INPUT_HELP, resolveInput, type InputOptions } from './inputs.js';
import { inspect, inspectText } from './inspect.js';
import { ls, lsTable } from './ls.js';
import { EXIT_INTERRUPTED, EXIT_USAGE, failure, jsonText, type CliRun, type CommonOptions } from './output.js';

/** The options every command that reads an input takes. */
type ReadOptions = CommonOptions & InputOptions;

/** A command's result: the JSON document, and the same as text for people. */
interface Outcome {
  readonly json: unknown;
  readonly text: string;
}

const controller = new AbortController();
let interrupted = false;

/** A positive integer option value, or a usage error (exit 2). */
function positiveInteger(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < 1) throw new UsageError('expected a positive integer');
  return number;
}

/** A positive number of seconds, or a usage error. */
function positiveSeconds(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new UsageError('expected a positive number of seconds');
  return number;
}

/** Add the input options every reading command takes. */
function reading(command: Command): Command {
  return command
    .addOption(new Option('--format <format>', 'force the input format').choices(FORMATS))
    .option('--split <split>', 'TFDS split expression, e.g. train, train[:10%], train+val (default train)')
    .option('--collection <name>', 'MongoDB collection, when the URI names only the database')
    .option('--filter <json>', 'MongoDB query filter as JSON, e.g. {"split":"train"}')
    .option('--json', 'print one JSON document on stdout instead of tables')
    .option('--debug', 'print the stack of an unexpected error')
    .addHelpText('after', `\n${INPUT_HELP}`);
}

/** Run a command's body: print its outcome, or its failure as one line; set the exit status. */
async function execute(name: string, options: CommonOptions, body: (run: CliRun) => Promise<Outcome>): Promise<void> {
  const run: CliRun = { signal: controller.signal, print: (text) => process.stdout.write(`${text}\n`) };
  try {
    const outcome = await body(run);
    if (interrupted) return;
    run.print(options.json === true ? jsonText(outcome.json) : outcome.text);
  } catch (error) {
    if (interrupted) return;
    const { text, status } = failure(name, error, options.debug === true);
    process.stderr.write(`${text}\n`);
    process.exitCode = status;
  }
}

/** The `rxfeed` program: every command, with its options and help. */
export function program(): Command {
  const root = new Command('rxfeed')
    .description('Look inside, index, benchmark and convert ML datasets: WebDataset tar shards, TFRecord, TFDS, MongoDB.')
    .version(packageVersion() ?? 'unknown')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  reading(root.command('ls'))
    .description('list the shards (files, objects, TFDS shard files, a MongoDB view) with their sizes and sample counts, and the totals')
    .argument('<input>', 'files, a pattern, a directory, a URL, s3://bucket/prefix, a TFDS directory or mongodb://host/db.collection')
    .action(async (input: string, options: ReadOptions) => {
      await execute('ls', options, async (run) => {
        const result = await ls(await resolveInput(input, options, run.signal), run);
        return { json: result, text: lsTable(result) };
      });
    });

  reading(root.command('inspect'))
    .description('show the first samples: their keys, fields, field types, shapes, sizes and short value excerpts')
    .argument('<input>', 'what to read (see Inputs below)')
    .option('-n, --samples <count>', 'samples to show', positiveInteger, 3)
    .action(async (input: string, options: ReadOptions & { samples: number }) => {
      await execute('inspect', options, async (run) => {
        const result = await inspect(await resolveInput(input, options, run.signal), options.samples, run);
        return { json: result, text: inspectText(result) };
      });
    });

  reading(root.command('index'))
    .description(
      'write the random-access index beside each local file: <shard>.idx.json for a WebDataset shard ' +
        '(read by webDatasetIndexed), <file>.idx (tfrecord2idx format) for a TFRecord file (read by tfrecordDataset)',
    )
    .argument('<input>', 'local shards or TFRecord files, or a TFDS directory (see Inputs below)')
    .action(async (input: string, options: ReadOptions) => {
      await execute('index', options, async (run) => {
        checkIndexable(input);
        const result = await buildIndexes(await resolveInput(input, options, run.signal), run);
        return { json: result, text: indexTable(result) };
      });
    });

  reading(root.command('bench'))
    .description(
      'measure samples/s and MB/s reading an input, and where the time goes: raw I/O, parsing into samples, ' +
        'and with --decode decoding the fields (images to pixels, Examples to features)',
    )
    .argument('<input>', 'what to read (see Inputs below)')
    .option('--seconds <n>', 'read for this long (default 10 when --samples is not given)', positiveSeconds)
    .option('--samples <n>', 'read this many samples (or all, when fewer)', positiveInteger)
    .option('--decode', 'also time decoding each sample')
    .action(async (input: string, options: ReadOptions & BenchOptions) => {
      await execute('bench', options, async (run) => {
        const result = await bench(await resolveInput(input, options, run.signal), options, run);
        return { json: result, text: benchTable(result) };
      });
    });

  reading(root.command('convert'))
    .description('convert TFRecord -> WebDataset shards, WebDataset -> TFRecord, or a MongoDB view -> WebDataset shards')
    .argument('<input>', 'what to read (see Inputs below)')
    .argument('<output>', 'the shard name pattern (out/train-%06d.tar) or TFRecord file (out/train.tfrecord)')
    .option('--max-count <n>', 'samples per tar shard at most', positiveInteger)
    .option('--max-size <bytes>', 'bytes per tar shard at most', positiveInteger)
    .addHelpText('after', `\n${CONVERT_HELP}`)
    .action(async (input: string, output: string, options: ReadOptions & ConvertOptions) => {
      await execute('convert', options, async (run) => {
        const result = await convert(await resolveInput(input, options, run.signal), output, options, run);
        return { json: result, text: convertTable(result) };
      });
    });

  return root;
}

async function main(): Promise<void> {
  process.once('SIGINT', () => {
    interrupted = true;
    controller.abort();
  });
  // A reader that stops early (`rxfeed ls ... | head`) closes the pipe: stop reading, quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    controller.abort();
    process.exit(process.exitCode ?? 0);
  });
  try {
    await program().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; anything else commander refused is a usage error.
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
    } else {
      const { text, status } = failure('rxfeed', error, process.argv.includes('--debug'));
      process.stderr.write(`${text}\n`);
      process.exitCode = status;
    }
  }
  if (interrupted) process.exitCode = EXIT_INTERRUPTED;
}

await main();
