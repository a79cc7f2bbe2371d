/**
 * Test helper: makes a disguised copy of a TypeScript file, the way a student hiding a copy
 * might. Each step can be applied alone: rename every declared identifier, reverse the order of
 * the top-level functions, and drop the comments and reformat (the compiler's printer), then
 * sprinkle in new comments. The copy still parses; it need not type-check.
 *
 * @module
 */

import ts from "typescript";

/** Which disguises {@linkcode disguise} applies; all by default. */
export interface DisguiseOptions {
  /** Rename every declared variable, parameter, function and class. */
  rename?: boolean;
  /** Reverse the order of the top-level function declarations. */
  reorder?: boolean;
  /** Drop the comments and reformat, then add different comments. */
  recomment?: boolean;
}

/** The names declared in a file: variables, parameters, functions, classes, interfaces. */
function declaredNames(file: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const visit = (node: ts.Node): void => {
    const named = ts.isVariableDeclaration(node) || ts.isParameter(node) ||
      ts.isFunctionDeclaration(node) || ts.isClassDeclaration(node) ||
      ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) ||
      ts.isBindingElement(node);
    if (named && node.name && ts.isIdentifier(node.name)) names.add(node.name.text);
    ts.forEachChild(node, visit);
  };
  visit(file);
  return names;
}

/** A transformer that renames identifiers in `names`, but not property names after a dot. */
function renamer(names: Set<string>): ts.TransformerFactory<ts.SourceFile> {
  return (context) => {
    const f = context.factory;
    const visit = (node: ts.Node): ts.Node => {
      if (ts.isPropertyAccessExpression(node)) {
        const expression = ts.visitNode(node.expression, visit) as ts.Expression;
        return ts.isPropertyAccessChain(node)
          ? f.updatePropertyAccessChain(node, expression, node.questionDotToken, node.name)
          : f.updatePropertyAccessExpression(node, expression, node.name);
      }
      if (ts.isIdentifier(node) && names.has(node.text)) {
        return f.createIdentifier(
          `renamed_${node.text.length}_${node.text.split("").reverse().join("")}`,
        );
      }
      return ts.visitEachChild(node, visit, context);
    };
    return (file) => ts.visitNode(file, visit) as ts.SourceFile;
  };
}

/** The statements with the function declarations' order reversed among their own slots. */
function reorder(file: ts.SourceFile): ts.SourceFile {
  const statements = [...file.statements];
  const slots = statements.flatMap((s, i) => ts.isFunctionDeclaration(s) ? [i] : []);
  const functions = slots.map((i) => statements[i]).reverse();
  slots.forEach((slot, n) => statements[slot] = functions[n]);
  return ts.factory.updateSourceFile(file, statements);
}

/** Adds a comment before every fifth line, and a trailing one after every line with `;`. */
function recomment(text: string): string {
  return text.split("\n").map((line, i) => {
    const before = i % 5 === 0 ? `// step ${i / 5 + 1}: as discussed in office hours\n` : "";
    return before + line + (line.endsWith(";") ? " /* ok */" : "");
  }).join("\n");
}

/**
 * A disguised copy of `source`: identifiers renamed, top-level functions reordered, comments
 * and formatting changed (each optional, all by default).
 */
export function disguise(source: string, options: DisguiseOptions = {}): string {
  const { rename = true, reorder: shuffle = true, recomment: comments = true } = options;
  let file = ts.createSourceFile("copy.ts", source, ts.ScriptTarget.Latest, true);
  if (shuffle) file = reorder(file);
  if (rename) file = ts.transform(file, [renamer(declaredNames(file))]).transformed[0];
  const printed = ts.createPrinter({ removeComments: comments }).printFile(file);
  return comments ? recomment(printed) : printed;
}
