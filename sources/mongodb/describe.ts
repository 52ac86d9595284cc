/**
 * Short Extended JSON renderings of filters and ids for error messages.
 * @module
 * @internal
 */
import { BSON } from 'mongodb';

/** The longest rendering put into an error message, in characters. */
const MAX_SHOWN = 300;

/**
 * Render `value` as relaxed Extended JSON (so an ObjectId reads `{"$oid":"..."}`), cut to a
 * readable length.
 * @internal
 */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = BSON.EJSON.stringify(value as BSON.Document, { relaxed: true }) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text;
}
