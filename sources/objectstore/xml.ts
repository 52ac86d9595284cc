/**
 * The little XML S3 speaks: a strict, minimal parser (elements, text, CDATA, the five named
 * entities and numeric character references; no DTDs) and the ListObjectsV2 and error documents.
 *
 * @module
 */
import type { ObjectEntry, ObjectPage } from './store.js';

/** One element: its local name (namespace prefix dropped), child elements and text content. */
export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  text: string;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * Decode XML character and entity references (`&amp;`, `&#38;`, `&#x26;` ...).
 * @internal
 */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(Number.parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number.parseInt(ref.slice(1), 10));
    const named = NAMED_ENTITIES[ref];
    if (named === undefined) throw new SyntaxError(`unknown XML entity ${whole}`);
    return named;
  });
}

/**
 * Parse an XML document into its root element.
 * @throws SyntaxError when the document is not well-formed (unclosed or mismatched tags, text
 * outside the root, an unknown entity).
 * @internal
 */
export function parseXml(xml: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let position = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`XML: ${what} at offset ${position}`);
  };
  while (position < xml.length) {
    const lt = xml.indexOf('<', position);
    const textEnd = lt < 0 ? xml.length : lt;
    if (textEnd > position) {
      const text = xml.slice(position, textEnd);
      const parent = stack[stack.length - 1];
      if (parent !== undefined) parent.text += decodeEntities(text);
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
      if (xml.slice(position, position + 9).toUpperCase() === '<!DOCTYPE' && !xml.slice(position, xml.indexOf('>', position)).includes('[')) {
        position = xml.indexOf('>', position) + 1;
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
      // A start tag; attribute values may hold '>' so they are skipped as quoted strings.
      const tag = /^<([^\s/>]+)(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(\/?)>/.exec(xml.slice(position));
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
 * `IsTruncated` is true.
 * @throws SyntaxError when the document is not a ListBucketResult or an entry lacks Key or Size.
 * @internal
 */
export function parseListObjectsV2(xml: string): ObjectPage {
  const root = parseXml(xml);
  if (root.name !== 'ListBucketResult') throw new SyntaxError(`expected <ListBucketResult>, got <${root.name}>`);
  const entries: ObjectEntry[] = [];
  for (const contents of root.children) {
    if (contents.name !== 'Contents') continue;
    const key = childText(contents, 'Key');
    const size = childText(contents, 'Size');
    if (key === undefined || size === undefined || !/^\d+$/.test(size.trim())) {
      throw new SyntaxError(`a <Contents> entry without a valid <Key> and <Size> (key ${key ?? '(none)'})`);
    }
    const etag = childText(contents, 'ETag');
    entries.push(etag === undefined ? { key, size: Number(size) } : { key, size: Number(size), etag });
  }
  const truncated = childText(root, 'IsTruncated')?.trim() === 'true';
  const token = childText(root, 'NextContinuationToken');
  if (truncated && (token === undefined || token === '')) {
    throw new SyntaxError('IsTruncated is true but there is no NextContinuationToken');
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
      return message === undefined || message === '' ? code : `${code}: ${message}`;
    }
  } catch {
    // Not XML: fall through to the raw text.
  }
  return body.slice(0, 200).trim();
}
