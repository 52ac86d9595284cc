/**
 * An independent writer of tfrecord2idx index files, for specs: the loop of DALI's
 * `tools/tfrecord2idx` and of the `tfrecord` package's `tfrecord.tools.tfrecord2idx` (the two are
 * the same: `str(current) + ' ' + str(f.tell() - current) + '\n'` per frame), rewritten with
 * `struct` and run by python3 (the `tfrecord` package itself is not installed here).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const TFRECORD2IDX = `
import struct, sys
f = open(sys.argv[1], 'rb')
idx = open(sys.argv[2], 'w')
while True:
    current = f.tell()
    byte_len = f.read(8)
    if len(byte_len) == 0:
        break
    f.read(4)
    proto_len = struct.unpack('q', byte_len)[0]
    f.read(proto_len)
    f.read(4)
    idx.write(str(current) + ' ' + str(f.tell() - current) + '\\n')
f.close()
idx.close()
`;

/** Write the index of TFRecord file `file` to `indexFile` with Python's tfrecord2idx loop. */
export function pythonTfrecord2idx(file: string, indexFile: string): void {
  const run = spawnSync('python3', ['-c', TFRECORD2IDX, file, indexFile], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
}
