/**
 * Text that came from a file or an image, made safe for a terminal: a crafted name or key line must not
 * carry escape sequences (set the title, clear the screen) or break a one-line message.
 */

/**
 * `s` with every C0 control (tab and newline too), DEL and C1 control written as `\xNN`, and the Unicode
 * line separators and bidirectional overrides (which reorder what the reader sees) as `\u{NNNN}`.
 */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]|[\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
}

/** Each line of `s` made printable(), the line breaks kept. */
export function printableLines(s: string): string {
  return s.split('\n').map(printable).join('\n');
}
