// A renderer for the plain subset of Helm's template language (Go text/template plus a few Sprig
// functions) that the generated chart uses, so that its manifests can be rendered here, without the
// helm binary, from the very template files the chart ships:
//   {{ pipeline }}  {{- … -}} (trim)  {{/* comment */}}
//   if / else if / else / end, range (over a list or a map: `range $key, $value := …`, keys sorted as
//   Go does), with / else, define, and the functions include, toYaml, nindent, indent, quote, default,
//   printf (%s %d %v), trunc, trimSuffix, lower, and, or, not, eq, ne, required.
// Anything else is an error naming the template and line, so a template can only use what both
// renderers understand. Evaluation follows Go's rules where they differ from JavaScript's: truthiness
// (empty maps and lists are false), a field of a missing value is an error (not undefined), and a
// missing value prints as nothing (Helm's "<no value>" replacement).
import { stringify } from 'yaml';

type Value = unknown;

interface Position { template: string; line: number }

type Operand =
  | { kind: 'field'; base: 'dot' | string; path: string[] }   // .a.b, $.a, $v.a
  | { kind: 'literal'; value: Value }
  | { kind: 'call'; name: string; args: Operand[] }
  | { kind: 'pipeline'; pipeline: Pipeline };

interface Pipeline { commands: Operand[]; declare?: string[] }

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline; at: Position }
  | { kind: 'if' | 'with'; pipeline: Pipeline; then: Node[]; otherwise: Node[]; at: Position }
  | { kind: 'range'; pipeline: Pipeline; body: Node[]; otherwise: Node[]; at: Position };

export class TemplateSet {
  private readonly defines = new Map<string, Node[]>();
  private readonly templates = new Map<string, Node[]>();

  /** Adds a template file (its `define`s become available to `include` in every template). */
  add(name: string, source: string): void {
    this.templates.set(name, new TemplateParser(name, source, this.defines).parse());
  }

  /** Renders template `name` with `data` as `.` and `$` (Helm's top-level object: Values, Release, Chart). */
  render(name: string, data: Value): string {
    const nodes = this.templates.get(name);
    if (!nodes) throw new Error(`no template ${name}`);
    return new Evaluator(this.defines, data).run(nodes, data, new Map([['$', data]]));
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing

interface Token { text: string; line: number; isAction: boolean }

class TemplateParser {
  private tokens: Token[] = [];
  private at = 0;

  constructor(private readonly name: string, private readonly source: string, private readonly defines: Map<string, Node[]>) {}

  parse(): Node[] {
    this.tokens = this.lex();
    const { nodes, end } = this.block();
    if (end !== null) throw this.error(end.line, `unexpected {{${end.text}}}`);
    return nodes;
  }

  private lex(): Token[] {
    const tokens: Token[] = [];
    let at = 0;
    let line = 1;
    let trimNext = false;
    const src = this.source;
    while (at < src.length) {
      const open = src.indexOf('{{', at);
      let text = open < 0 ? src.slice(at) : src.slice(at, open);
      if (trimNext) text = text.replace(/^\s+/, '');
      if (open >= 0 && src.startsWith('{{- ', open)) text = text.replace(/\s+$/, '');
      if (text) tokens.push({ text, line, isAction: false });
      line += countLines(src.slice(at, open < 0 ? src.length : open));
      if (open < 0) break;
      const close = src.indexOf('}}', open + 2);
      if (close < 0) throw this.error(line, 'unclosed {{');
      let inner = src.slice(open + 2, close);
      const actionLine = line;
      line += countLines(inner);
      trimNext = inner.endsWith(' -');
      if (inner.startsWith('- ')) inner = inner.slice(2);
      if (trimNext) inner = inner.slice(0, -2);
      inner = inner.trim();
      if (!(inner.startsWith('/*') && inner.endsWith('*/'))) tokens.push({ text: inner, line: actionLine, isAction: true });
      at = close + 2;
    }
    return tokens;
  }

  // Nodes up to an `end` or `else` (returned as `end`), or to the end of the template.
  private block(): { nodes: Node[]; end: Token | null } {
    const nodes: Node[] = [];
    while (this.at < this.tokens.length) {
      const token = this.tokens[this.at++]!;
      if (!token.isAction) {
        nodes.push({ kind: 'text', text: token.text });
        continue;
      }
      const [keyword = '', rest = ''] = splitKeyword(token.text);
      const at = { template: this.name, line: token.line };
      if (keyword === 'end' || keyword === 'else') return { nodes, end: token };
      if (keyword === 'if' || keyword === 'with') {
        nodes.push(this.conditional(keyword, rest, at));
      } else if (keyword === 'range') {
        const pipeline = this.pipeline(rest, at, true);
        const body = this.block();
        let otherwise: Node[] = [];
        if (body.end?.text === 'else') otherwise = this.expectEnd(this.block(), at);
        else this.expectEnd(body, at);
        nodes.push({ kind: 'range', pipeline, body: body.nodes, otherwise, at });
      } else if (keyword === 'define') {
        const name = /^"([^"]+)"$/.exec(rest)?.[1];
        if (!name) throw this.error(token.line, 'define needs a quoted name');
        this.defines.set(name, this.expectEnd(this.block(), at));
      } else if (['template', 'block', 'break', 'continue'].includes(keyword)) {
        throw this.error(token.line, `{{${keyword}}} is outside the supported subset (use include)`);
      } else {
        nodes.push({ kind: 'action', pipeline: this.pipeline(token.text, at, true), at });
      }
    }
    return { nodes, end: null };
  }

  private conditional(kind: 'if' | 'with', rest: string, at: Position): Node {
    const pipeline = this.pipeline(rest, at, false);
    const then = this.block();
    if (then.end === null) throw this.error(at.line, `{{${kind}}} without {{end}}`);
    let otherwise: Node[] = [];
    if (then.end.text === 'else') {
      otherwise = this.expectEnd(this.block(), at);
    } else if (then.end.text.startsWith('else if ') && kind === 'if') {
      // `else if X` is an if nested in the else branch that shares the outer `end`.
      otherwise = [this.conditional('if', then.end.text.slice('else if '.length), { template: this.name, line: then.end.line })];
    } else if (then.end.text !== 'end') {
      throw this.error(then.end.line, `unexpected {{${then.end.text}}}`);
    }
    return { kind, pipeline, then: then.nodes, otherwise, at };
  }

  private expectEnd(result: { nodes: Node[]; end: Token | null }, at: Position): Node[] {
    if (result.end?.text !== 'end') throw this.error(at.line, result.end ? `unexpected {{${result.end.text}}}` : 'missing {{end}}');
    return result.nodes;
  }

  private pipeline(text: string, at: Position, mayDeclare: boolean): Pipeline {
    const words = tokenizeExpression(text, (why) => this.error(at.line, why));
    let declare: string[] | undefined;
    const assign = words.indexOf(':=');
    if (assign >= 0) {
      if (!mayDeclare) throw this.error(at.line, 'a variable may be declared only in range or a plain action');
      declare = words.slice(0, assign).filter((w) => w !== ',');
      if (!declare.every((v) => /^\$[A-Za-z_]\w*$/.test(v)) || declare.length > 2) throw this.error(at.line, `bad declaration ${text}`);
      words.splice(0, assign + 1);
    }
    const reader = { words, at: 0 };
    const result = this.parsePipeline(reader, at);
    if (reader.at !== words.length) throw this.error(at.line, `unexpected ${words[reader.at]} in ${text}`);
    return declare ? { ...result, declare } : result;
  }

  private parsePipeline(reader: { words: string[]; at: number }, at: Position): Pipeline {
    const commands: Operand[] = [];
    for (;;) {
      const args: Operand[] = [];
      while (reader.at < reader.words.length && reader.words[reader.at] !== '|' && reader.words[reader.at] !== ')') {
        const word = reader.words[reader.at++]!;
        if (word === '(') {
          args.push({ kind: 'pipeline', pipeline: this.parsePipeline(reader, at) });
          if (reader.words[reader.at++] !== ')') throw this.error(at.line, 'missing )');
        } else {
          args.push(operand(word, (why) => this.error(at.line, why)));
        }
      }
      if (args.length === 0) throw this.error(at.line, 'empty command');
      const [head, ...rest] = args;
      if (head!.kind === 'call') commands.push({ kind: 'call', name: head!.name, args: rest });
      else if (rest.length > 0) throw this.error(at.line, 'only a function takes arguments');
      else commands.push(head!);
      if (reader.words[reader.at] !== '|') break;
      reader.at++;
    }
    return { commands };
  }

  private error(line: number, why: string): Error {
    return new Error(`template ${this.name}:${line}: ${why}`);
  }
}

function splitKeyword(text: string): [string, string] {
  const match = /^(if|else|end|range|with|define|template|block|break|continue)\b\s*(.*)$/s.exec(text);
  if (!match) return ['', text];
  if (match[1] === 'else' && match[2]) return ['else', ''];  // `else if …`: the block parser reads the text
  return [match[1]!, match[2]!];
}

function tokenizeExpression(text: string, fail: (why: string) => Error): string[] {
  const words: string[] = [];
  const pattern = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|[|(),]|[^\s|(),]+)/gy;
  let match: RegExpExecArray | null;
  let at = 0;
  while (at < text.length && (match = pattern.exec(text)) !== null) {
    words.push(match[1]!);
    at = pattern.lastIndex;
    if (/^\s*$/.test(text.slice(at))) break;
  }
  if (words.length === 0) throw fail('empty action');
  return words;
}

const FUNCTIONS = new Set(['include', 'toYaml', 'nindent', 'indent', 'quote', 'default', 'printf', 'trunc', 'trimSuffix', 'lower', 'and', 'or', 'not', 'eq', 'ne', 'required']);

function operand(word: string, fail: (why: string) => Error): Operand {
  if (word.startsWith('"')) return { kind: 'literal', value: JSON.parse(word) as string };
  if (word.startsWith('`')) return { kind: 'literal', value: word.slice(1, -1) };
  if (/^-?\d+$/.test(word)) return { kind: 'literal', value: Number(word) };
  if (word === 'true' || word === 'false') return { kind: 'literal', value: word === 'true' };
  if (word === 'nil') return { kind: 'literal', value: null };
  if (word === '.') return { kind: 'field', base: 'dot', path: [] };
  if (/^(\.[A-Za-z_]\w*)+$/.test(word)) return { kind: 'field', base: 'dot', path: word.slice(1).split('.') };
  const variable = /^(\$[A-Za-z_]?\w*)((?:\.[A-Za-z_]\w*)*)$/.exec(word);
  if (variable) return { kind: 'field', base: variable[1]!, path: variable[2] ? variable[2].slice(1).split('.') : [] };
  if (FUNCTIONS.has(word)) return { kind: 'call', name: word, args: [] };
  throw fail(`${word} is outside the supported subset`);
}

function countLines(text: string): number {
  let n = 0;
  for (const c of text) if (c === '\n') n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

class Evaluator {
  private depth = 0;

  constructor(private readonly defines: Map<string, Node[]>, private readonly root: Value) {}

  run(nodes: Node[], dot: Value, vars: Map<string, Value>): string {
    let out = '';
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          out += node.text;
          break;
        case 'action': {
          const value = this.pipeline(node.pipeline, dot, vars, node.at);
          if (node.pipeline.declare) vars.set(node.pipeline.declare[0]!, value);
          else out += printed(value);
          break;
        }
        case 'if':
        case 'with': {
          const value = this.pipeline(node.pipeline, dot, vars, node.at);
          if (truthy(value)) out += this.run(node.then, node.kind === 'with' ? value : dot, new Map(vars));
          else out += this.run(node.otherwise, dot, new Map(vars));
          break;
        }
        case 'range': {
          const value = this.pipeline({ commands: node.pipeline.commands }, dot, vars, node.at);
          const entries: [Value, Value][] = Array.isArray(value) ? value.map((v, i) => [i, v])
            : isMap(value) ? Object.keys(value).sort().map((k) => [k, value[k]])
            : value === null || value === undefined ? [] : fail(node.at, `range over ${typeof value}`);
          if (entries.length === 0) out += this.run(node.otherwise, dot, new Map(vars));
          for (const [key, item] of entries) {
            const inner = new Map(vars);
            const declared = node.pipeline.declare ?? [];
            if (declared.length === 1) inner.set(declared[0]!, item);
            if (declared.length === 2) {
              inner.set(declared[0]!, key);
              inner.set(declared[1]!, item);
            }
            out += this.run(node.body, item, inner);
          }
          break;
        }
      }
    }
    return out;
  }

  private pipeline(pipeline: Pipeline, dot: Value, vars: Map<string, Value>, at: Position): Value {
    let previous: { value: Value } | null = null;
    for (const command of pipeline.commands) {
      if (command.kind === 'call') {
        const args = command.args.map((a) => this.operand(a, dot, vars, at));
        if (previous) args.push(previous.value);
        previous = { value: this.call(command.name, args, at) };
      } else {
        if (previous) fail(at, 'a value cannot take piped input');
        previous = { value: this.operand(command, dot, vars, at) };
      }
    }
    return previous?.value;
  }

  private operand(operand: Operand, dot: Value, vars: Map<string, Value>, at: Position): Value {
    switch (operand.kind) {
      case 'literal': return operand.value;
      case 'pipeline': return this.pipeline(operand.pipeline, dot, vars, at);
      case 'call': return this.call(operand.name, [], at);
      case 'field': {
        let value: Value;
        if (operand.base === 'dot') value = dot;
        else if (vars.has(operand.base)) value = vars.get(operand.base);
        else return fail(at, `undefined variable ${operand.base}`);
        for (const [i, name] of operand.path.entries()) {
          if (value === null || value === undefined) return fail(at, `nil pointer evaluating ${operand.base === 'dot' ? '' : operand.base}.${operand.path.slice(0, i + 1).join('.')}`);
          if (!isMap(value)) return fail(at, `can't evaluate field ${name} in ${typeof value}`);
          value = value[name];
        }
        return value;
      }
    }
  }

  private call(name: string, args: Value[], at: Position): Value {
    const arity = (n: number) => {
      if (args.length !== n) fail(at, `${name} takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
    };
    switch (name) {
      case 'include': {
        arity(2);
        const nodes = this.defines.get(String(args[0]));
        if (!nodes) return fail(at, `no template "${String(args[0])}" is defined`);
        if (++this.depth > 50) return fail(at, 'include nested too deeply');
        try {
          return this.run(nodes, args[1], new Map([['$', args[1]]]));
        } finally {
          this.depth--;
        }
      }
      case 'toYaml':
        arity(1);
        return args[0] === null || args[0] === undefined ? 'null' : stringify(args[0], { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, '');
      case 'nindent':
      case 'indent': {
        arity(2);
        const pad = ' '.repeat(Number(args[0]));
        const text = printed(args[1]).split('\n').map((l) => pad + l).join('\n');
        return name === 'nindent' ? '\n' + text : text;
      }
      case 'quote':
        return args.map((a) => JSON.stringify(printed(a))).join(' ');
      case 'default':
        arity(2);
        return truthy(args[1]) ? args[1] : args[0];
      case 'required':
        arity(2);
        return truthy(args[1]) || args[1] === false || args[1] === 0 ? args[1] : fail(at, String(args[0]));
      case 'printf': {
        let i = 1;
        return String(args[0]).replace(/%[sdv%]/g, (verb) => (verb === '%%' ? '%' : printed(args[i++])));
      }
      case 'trunc':
        arity(2);
        return printed(args[1]).slice(0, Number(args[0]));
      case 'trimSuffix': {
        arity(2);
        const text = printed(args[1]);
        const suffix = String(args[0]);
        return suffix && text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
      }
      case 'lower':
        arity(1);
        return printed(args[0]).toLowerCase();
      case 'and':
        return args.find((a) => !truthy(a)) ?? args[args.length - 1];
      case 'or':
        return args.find((a) => truthy(a)) ?? args[args.length - 1];
      case 'not':
        arity(1);
        return !truthy(args[0]);
      case 'eq':
      case 'ne':
        arity(2);
        return (args[0] === args[1]) === (name === 'eq');
      default:
        return fail(at, `unknown function ${name}`);
    }
  }
}

function truthy(value: Value): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isMap(value)) return Object.keys(value).length > 0;
  return true;
}

function isMap(value: Value): value is Record<string, Value> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function printed(value: Value): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function fail(at: Position, why: string): never {
  throw new Error(`template ${at.template}:${at.line}: ${why}`);
}
