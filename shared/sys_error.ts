import { errnoDescription, errnoName } from "./constants.ts";

/**
 * The one error type thrown by every failed system call in this package. It carries the name of
 * the call (`syscall`), the errno number (`errno`) and its symbolic name (`code`, such as
 * `"EADDRINUSE"`), so callers check `err instanceof SysError && err.code === "EAGAIN"` rather
 * than parsing messages. The message reads `bind 127.0.0.1:7000: EADDRINUSE (address already in
 * use)`: what failed, a colon, then the errno name and its description.
 */
export class SysError extends Error {
  /** The system call that failed, such as `"connect"`. */
  readonly syscall: string;
  /** The errno number the call left behind, such as 111. */
  readonly errno: number;
  /** The symbolic errno name, such as `"ECONNREFUSED"`. */
  readonly code: string;

  /**
   * Build the error for a failed `syscall`; `target` (an address, or `fd 7`) goes into the
   * message between the call name and the colon.
   */
  constructor(syscall: string, errno: number, target?: string) {
    const what = target === undefined ? syscall : `${syscall} ${target}`;
    super(`${what}: ${errnoName(errno)} (${errnoDescription(errno)})`);
    this.name = "SysError";
    this.syscall = syscall;
    this.errno = errno;
    this.code = errnoName(errno);
  }
}
