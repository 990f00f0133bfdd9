/**
 * Snapshot and migration state: every part with guest-visible state implements Stateful (DESIGN.md).
 * State is plain JSON-serialisable data (numbers, strings, booleans, arrays, objects); large binary blobs
 * (RAM, disk) travel outside it.
 */
export type State = number | string | boolean | null | State[] | { [key: string]: State };

export interface Stateful {
  save(): State;
  restore(s: State): void;
}
