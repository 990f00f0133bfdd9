/** An error a user can cause: bad file, bad flag, corrupt image. The CLI prints its one line and exits non-zero. */
export class BonsaiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BonsaiError';
  }
}
