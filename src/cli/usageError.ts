// A command line the CLI cannot run: it answers with the message and the usage, exit code 2.
export class UsageError extends Error {}
