// What the CLI prints to a terminal never carries another person's control characters: a subject, a chat text, a
// file or device name, a server's error message could otherwise move the cursor, recolour or rewrite lines (ESC
// sequences, CR), or fake a line of output (a newline followed by something that looks like ours). JSON output
// (--json) is unaffected: JSON.stringify escapes every control character.

// C0 controls but tab and newline, DEL, C1 controls, and the Unicode direction overrides that reorder what is shown.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Every unsafe character shown as U+FFFD; tabs and newlines kept (for text we lay out ourselves). */
export function terminalSafe(s: string): string {
  return s.replace(UNSAFE, '\uFFFD');
}

/** A field that must stay on one line (a subject, a name): line breaks and tabs become spaces. */
export function oneLine(s: string): string {
  return terminalSafe(s.replace(/\r\n|[\r\n\t\u2028\u2029]/g, ' '));
}

/** Text that may run over lines (a chat message): every line after the first is indented, so none looks like ours. */
export function indented(s: string, indent = '    '): string {
  return terminalSafe(s.replace(/\r\n|[\r\u2028\u2029]/g, '\n')).replace(/\n/g, `\n${indent}`);
}
