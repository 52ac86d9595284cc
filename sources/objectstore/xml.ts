/**
 * The little XML S3 speaks: a strict, minimal parser (elements, text, CDATA, the five named
 * entities and numeric character references; no DTDs) and the ListObjectsV2 and error documents.
 *
 * @module
 */
import { excerpt, ObjectStoreError } from './errors.js';
import type { ObjectEntry, ObjectPage } from './store.js';

/** What a parser names in its errors when the caller does not say which listing it parses. */
const UNNAMED = '(ListObjectsV2 answer)';

function malformed(document: string, what: string, answer = 'ListObjectsV2'): ObjectStoreError {
  return new ObjectStoreError('RXFEED_ERR_OBJECT_PROTOCOL', document, `unreadable ${answer} answer: ${what}`);
}

/** One element: its local name (namespace prefix dropped), child elements and text content. */
export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  text: string;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * Decode XML character and entity references (`&amp;`, `&#38;`, `&#x26;` ...).
 * @param document - Named in errors.
 * @throws ObjectStoreError (`RXFEED_ERR_OBJECT_PROTOCOL`) on an unknown entity or a reference
 * to no Unicode code point.
 * @internal
 */
export function decodeEntities(text: string, document = UNNAMED): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref.startsWith('#x') ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (!(code <= 0x10ffff)) throw malformed(document, `${excerpt(whole)} is no Unicode code point`);
      return String.fromCodePoint(code);
    }
    const named = Object.hasOwn(NAMED_ENTITIES, ref) ? NAMED_ENTITIES[ref] : undefined;
    if (named === undefined) throw malformed(document, `unknown XML entity ${excerpt(whole)}`);
    return named;
  });
}

/** A start tag; attribute values may hold '>' so they are skipped as quoted strings. */
const START_TAG = /<([^\s/>]+)(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(\/?)>/y;

/**
 * Parse an XML document into its root element. Total: any string gives an element or a typed
 * error, with work and memory linear in its length.
 * @param document - Named in errors.
 * @param answer - The request whose answer this is, named in errors.
 * @throws ObjectStoreError (`RXFEED_ERR_OBJECT_PROTOCOL`) when the document is not well-formed
 * (unclosed or mismatched tags, text outside the root, an unknown entity).
 * @internal
 */
export function parseXml(xml: string, document = UNNAMED, answer = 'ListObjectsV2'): XmlElement {
  if (typeof xml !== 'string') throw malformed(document, `expected text, got ${typeof xml}`, answer);
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let position = 0;
  const fail = (what: string): never => {
    throw malformed(document, `XML: ${excerpt(what)} at offset ${position}`, answer);
  };
  while (position < xml.length) {
    const lt = xml.indexOf('<', position);
    const textEnd = lt < 0 ? xml.length : lt;
    if (textEnd > position) {
      const text = xml.slice(position, textEnd);
      const parent = stack[stack.length - 1];
      if (parent !== undefined) parent.text += decodeEntities(text, document);
      else if (text.trim() !== '') fail('text outside the root element');
      position = textEnd;
      continue;
    }
    if (xml.startsWith('<?', position)) {
      const end = xml.indexOf('?>', position);
      if (end < 0) fail('unterminated processing instruction');
      position = end + 2;
    } else if (xml.startsWith('<!--', position)) {
      const end = xml.indexOf('-->', position);
      if (end < 0) fail('unterminated comment');
      position = end + 3;
    } else if (xml.startsWith('<![CDATA[', position)) {
      const end = xml.indexOf(']]>', position);
      const parent = stack[stack.length - 1];
      if (end < 0 || parent === undefined) fail('misplaced or unterminated CDATA');
      parent!.text += xml.slice(position + 9, end);
      position = end + 3;
    } else if (xml.startsWith('<!', position)) {
      const close = xml.indexOf('>', position);
      if (close > 0 && xml.slice(position, position + 9).toUpperCase() === '<!DOCTYPE' && !xml.slice(position, close).includes('[')) {
        position = close + 1;
      } else {
        fail('unsupported markup declaration');
      }
    } else if (xml.startsWith('</', position)) {
      const end = xml.indexOf('>', position);
      if (end < 0) fail('unterminated end tag');
      const name = localName(xml.slice(position + 2, end).trim());
      const open = stack.pop();
      if (open === undefined || open.name !== name) fail(`</${name}> does not close <${open?.name ?? '(nothing)'}>`);
      position = end + 1;
    } else {
      START_TAG.lastIndex = position;
      const tag = START_TAG.exec(xml);
      if (tag === null) fail('malformed start tag');
      const element: XmlElement = { name: localName(tag![1]!), children: [], text: '' };
      const parent = stack[stack.length - 1];
      if (parent !== undefined) parent.children.push(element);
      else if (root === undefined) root = element;
      else fail('a second root element');
      if (tag![2] !== '/') stack.push(element);
      position += tag![0].length;
    }
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1]!.name}> is not closed`);
  if (root === undefined) fail('no root element');
  return root!;
}

function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/** The text of the first child named `name`, if any. */
function childText(element: XmlElement, name: string): string | undefined {
  return element.children.find((child) => child.name === name)?.text;
}

/**
 * A ListObjectsV2 answer (`ListBucketResult`) as a page of entries; `continuation` is set while
 * `IsTruncated` is true. Total: any string gives a page or a typed error.
 * @param document - The listing, named in errors (e.g. `s3://bucket/prefix*`).
 * @throws ObjectStoreError (`RXFEED_ERR_OBJECT_PROTOCOL`) when the document is not a
 * well-formed ListBucketResult, or an entry lacks its Key or a Size that is a safe integer.
 * @internal
 */
export function parseListObjectsV2(xml: string, document = UNNAMED): ObjectPage {
  const root = parseXml(xml, document);
  if (root.name !== 'ListBucketResult') throw malformed(document, `expected <ListBucketResult>, got <${excerpt(root.name)}>`);
  const entries: ObjectEntry[] = [];
  for (const contents of root.children) {
    if (contents.name !== 'Contents') continue;
    const key = childText(contents, 'Key');
    const size = childText(contents, 'Size');
    if (key === undefined || size === undefined || !/^\d+$/.test(size.trim()) || !Number.isSafeInteger(Number(size))) {
      throw malformed(document, `a <Contents> entry without a valid <Key> and <Size> (key ${excerpt(key ?? '(none)')})`);
    }
    const etag = childText(contents, 'ETag');
    entries.push(etag === undefined ? { key, size: Number(size) } : { key, size: Number(size), etag });
  }
  const truncated = childText(root, 'IsTruncated')?.trim() === 'true';
  const token = childText(root, 'NextContinuationToken');
  if (truncated && (token === undefined || token === '')) {
    throw malformed(document, 'IsTruncated is true but there is no NextContinuationToken');
  }
  return truncated ? { entries, continuation: token } : { entries };
}

/**
 * `Code: Message` of an S3 `<Error>` document, or the start of the text when it is not one.
 * @internal
 */
export function describeS3Error(body: string): string {
  try {
    const root = parseXml(body);
    if (root.name === 'Error') {
      const code = childText(root, 'Code') ?? 'Error';
      const message = childText(root, 'Message');
      return excerpt(message === undefined || message === '' ? code : `${code}: ${message}`);
    }
  } catch {
    // Not XML: fall through to the raw text.
  }
  return excerpt(body.replace(/<[^>]*>/g, ' '));
}

/**
 * The `UploadId` of an InitiateMultipartUploadResult (CreateMultipartUpload's answer).
 * @param document - The object, named in errors.
 * @throws ObjectStoreError (`RXFEED_ERR_OBJECT_PROTOCOL`) when the answer is not one, or has no UploadId.
 * @internal
 */
export function parseUploadId(xml: string, document: string): string {
  const answer = 'CreateMultipartUpload';
  const root = parseXml(xml, document, answer);
  const uploadId = root.name === 'InitiateMultipartUploadResult' ? childText(root, 'UploadId')?.trim() : undefined;
  if (uploadId === undefined || uploadId === '') {
    throw malformed(document, `expected <InitiateMultipartUploadResult> with an <UploadId>, got <${excerpt(root.name)}>`, answer);
  }
  return uploadId;
}

/**
 * CompleteMultipartUpload's answer: `undefined` for a `<CompleteMultipartUploadResult>`, or the
 * `<Error>` that S3 may send with status 200 (the upload then did not complete) as its code and
 * description.
 * @param document - The object, named in errors.
 * @throws ObjectStoreError (`RXFEED_ERR_OBJECT_PROTOCOL`) when the answer is neither.
 * @internal
 */
export function parseCompleteAnswer(xml: string, document: string): { readonly code: string; readonly description: string } | undefined {
  const answer = 'CompleteMultipartUpload';
  const root = parseXml(xml, document, answer);
  if (root.name === 'CompleteMultipartUploadResult') return undefined;
  if (root.name === 'Error') return { code: (childText(root, 'Code') ?? 'Error').trim(), description: describeS3Error(xml) };
  throw malformed(document, `expected <CompleteMultipartUploadResult> or <Error>, got <${excerpt(root.name)}>`, answer);
}

/**
 * The body of CompleteMultipartUpload: every part's number and ETag, in order.
 * @internal
 */
export function completeMultipartBody(etags: readonly string[]): string {
  const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const parts = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escape(etag)}</ETag></Part>`);
  return `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.join('')}</CompleteMultipartUpload>`;
}
