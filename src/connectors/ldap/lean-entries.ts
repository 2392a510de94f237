/**
 * A lean decoder for the entries of idem's own searches. ldapts parses each
 * search result entry into an `Attribute` object per attribute, a Buffer slice
 * and a fatal `TextDecoder` call per value, then copies it into a plain object:
 * on a 10,000-person snapshot (11 attributes each) that was about 0.3 s of CPU
 * plus its garbage. Searches that ask for it (see {@link LEAN_ENTRIES}) get their
 * entries decoded here straight from the received bytes into the object
 * `toObject` would give, every value already the string idem's readers
 * ({@link toLdapEntry}, the snapshot's packing) make of ldapts's value.
 *
 * Only the entry's own bytes are read: its controls are ignored, as ldapts's
 * `toObject` ignores them; references and every other message go through
 * ldapts unchanged, and so does an entry that is not in the expected shape
 * (ldapts then decides what it is, or fails it as before).
 */
import { type BerReader, type Client, type Entry, SearchEntry } from 'ldapts';
import { remembered } from './remembered.ts';

/**
 * Marks a search whose entries are decoded lean: passed as the search's
 * `explicitBufferAttributes` (it asks for no Buffer), recognized by identity.
 * Values then come as strings (UTF-8; bytes that are not valid UTF-8 as
 * `Buffer#toString` decodes them), never as Buffers: only for callers that
 * convert every value to a string anyway.
 */
export const LEAN_ENTRIES: string[] = Object.freeze([]) as unknown as string[];

const OCTET_STRING = 0x04;
const SET = 0x31;
const SEARCH_ENTRY = 0x64;
const BOM = 0xfeff;
const REPLACEMENT = '\uFFFD';

/** What ldapts does with a value that is valid UTF-8 (a leading BOM dropped); throws when it is not. */
const fatalUtf8 = new TextDecoder('utf8', { fatal: true });

/** The content start and length of the last element read by {@link element}. */
let at = 0;
let len = 0;

/**
 * Reads the length of the element whose tag is at `pos` (BER definite form, at
 * most 4 length bytes, as ldapts reads it); false when it does not fit before `end`.
 */
function element(buf: Buffer, pos: number, end: number): boolean {
  let p = pos + 1;
  if (p >= end) return false;
  let n = buf[p++] as number;
  if (n & 0x80) {
    const bytes = n & 0x7f;
    if (bytes === 0 || bytes > 4 || p + bytes > end) return false;
    n = 0;
    for (let i = 0; i < bytes; i++) n = n * 256 + (buf[p++] as number);
  }
  if (p + n > end) return false;
  at = p;
  len = n;
  return true;
}

/**
 * The values of one attribute (the SET OF OCTET STRING in `[start, end)`) as
 * idem's readers would make them of ldapts's values: a `;binary` attribute's
 * Buffers and an attribute with any value that is not valid UTF-8 (ldapts then
 * gives all its values as Buffers) decoded by `Buffer#toString`, the others as
 * ldapts's fatal `TextDecoder` decodes them. Undefined when malformed.
 */
function values(buf: Buffer, start: number, end: number, binary: boolean): string[] | undefined {
  const out: string[] = [];
  let suspect = false;
  let pos = start;
  while (pos < end) {
    if (buf[pos] !== OCTET_STRING || !element(buf, pos, end)) return undefined;
    const v = buf.toString('utf8', at, at + len);
    // Decoded as is, a value differs from TextDecoder's only when it starts with a BOM
    // or was not valid UTF-8 (replacement characters): those take the exact way below.
    if (v.charCodeAt(0) === BOM || v.includes(REPLACEMENT)) suspect = true;
    out.push(v);
    pos = at + len;
  }
  if (!suspect || binary) return out;
  const exact: string[] = [];
  pos = start;
  try {
    while (pos < end) {
      element(buf, pos, end);
      exact.push(fatalUtf8.decode(buf.subarray(at, at + len)));
      pos = at + len;
    }
  } catch {
    return out; // one value is not UTF-8: ldapts gives them all as Buffers, read as Buffer#toString reads them
  }
  return exact;
}

/**
 * Decodes a SearchResultEntry's content (`[start, end)`: objectName, then the
 * attribute list) into what ldapts's `toObject` gives before its fill-in of the
 * requested attributes. Undefined when it is not in the expected shape.
 */
function decodeEntry(buf: Buffer, start: number, end: number): Entry | undefined {
  if (buf[start] !== OCTET_STRING || !element(buf, start, end)) return undefined;
  const entry: Entry = { dn: buf.toString('utf8', at, at + len) };
  let pos = at + len;
  if (pos >= end || !element(buf, pos, end)) return undefined;
  const listEnd = at + len;
  pos = at;
  while (pos < listEnd) {
    if (!element(buf, pos, listEnd)) return undefined;
    const attrEnd = at + len;
    pos = at;
    if (buf[pos] !== OCTET_STRING || !element(buf, pos, attrEnd)) return undefined;
    const type = buf.toString('utf8', at, at + len);
    pos = at + len;
    let list: string[] = [];
    if (pos < attrEnd) {
      if (buf[pos] !== SET || !element(buf, pos, attrEnd)) return undefined;
      const setEnd = at + len;
      const decoded = values(buf, at, setEnd, /;binary$/i.test(type));
      if (!decoded) return undefined;
      list = decoded;
      pos = setEnd;
    }
    if (pos !== attrEnd) return undefined;
    entry[type] = list.length === 1 ? (list[0] as string) : list;
  }
  return pos === listEnd ? entry : undefined;
}

/** A search result entry decoded by {@link decodeEntry}: to ldapts's client, an entry like any other. */
class LeanSearchEntry extends SearchEntry {
  constructor(
    messageId: number,
    private readonly entry: Entry,
  ) {
    super({ messageId });
  }

  /**
   * The entry, with `[]` for each requested attribute it lacks, as ldapts's
   * `toObject` fills them in (its attribute types compared case-insensitively;
   * the `dn` key is not an attribute type).
   */
  override toObject(requestAttributes: string[]): Entry {
    const { entry } = this;
    const lacking: string[] = [];
    for (const name of requestAttributes) {
      if (entry[name] !== undefined) continue;
      const lower = lowerCased(name);
      let found = false;
      for (const k in entry) if (k !== 'dn' && lowerCased(k) === lower) found = true;
      if (!found) lacking.push(name);
    }
    // Added after the look-ups: ldapts compares with the entry's own types only.
    for (const name of lacking) entry[name] = [];
    return entry;
  }
}

/** Attribute types lower-cased as ldapts does (`toLocaleLowerCase`), once per distinct type. */
const lowerCased = remembered((type) => type.toLocaleLowerCase(), 10_000);

type GetMessage = (messageId: number, operation: number, reader: BerReader, request: unknown) => unknown;

/**
 * Makes `client` decode the entries of searches marked with {@link LEAN_ENTRIES}
 * lean. Hooks the one method of ldapts's message parser that turns a received
 * message into an object; when that method is not there (another ldapts), it
 * does nothing and ldapts decodes every entry itself.
 */
export function decodeLeanEntries(client: Client): void {
  const parser = (client as unknown as { messageParser?: { _getMessageFromProtocolOperation?: GetMessage } })
    .messageParser;
  const original = parser?._getMessageFromProtocolOperation;
  if (!parser || typeof original !== 'function') return;
  parser._getMessageFromProtocolOperation = function (this: unknown, messageId, operation, reader, request) {
    if (
      operation === SEARCH_ENTRY &&
      (request as { explicitBufferAttributes?: unknown } | undefined)?.explicitBufferAttributes ===
        LEAN_ENTRIES
    ) {
      const start = reader.offset;
      const end = start + reader.length;
      const entry = end <= start + reader.remain ? decodeEntry(reader.buffer, start, end) : undefined;
      if (entry) return new LeanSearchEntry(messageId, entry);
    }
    return original.call(this, messageId, operation, reader, request);
  };
}
