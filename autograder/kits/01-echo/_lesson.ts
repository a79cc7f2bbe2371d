/**
 * The lesson check of 01-echo: which socket calls a student's file makes itself. Read from the
 * source with the TypeScript parser, so comments and strings never count as calls.
 *
 * @module
 */
import ts from "typescript";

/** What {@link missingCalls} found in one file. */
export interface CallCheck {
  /** Each required call with no alternative made: "bind", "write or writeAll". */
  missing: string[];
  /** Lines (1-based) where a `todo(...)` of the starter is still called. */
  todos: number[];
}

/**
 * The calls of `required` that `text` never makes. Each entry lists names any one of which will
 * do (`["write", "writeAll"]`); `socket(...)` and `lib.socket(...)` both count.
 */
export function missingCalls(file: string, text: string, required: string[][]): CallCheck {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const called = new Set<string>();
  const todos: number[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
        ? callee.name.text
        : null;
      if (name) called.add(name);
      if (name === "todo") {
        todos.push(source.getLineAndCharacterOfPosition(node.getStart()).line + 1);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  const missing = required.filter((names) => !names.some((n) => called.has(n)))
    .map((names) => names.join(" or "));
  return { missing, todos };
}
