// What every section's report shares: outcomes that may be unavailable, target verdicts, and the
// table and duration formats of the printed report. A leaf: the section reports import it, not report.ts.

export type Outcome<T> = T | { unavailable: string };

export interface Target {
  goal: string;
  value: number | null;
  met: boolean | null;
  detail: string;
}

export type Row = { label: string; cells: string[] } | { label: string; span: string } | 'rule' | 'head';

// A block with its own header line and column widths; notes are spans without cells.
export function table(heads: string[], rows: Row[]): string[] {
  const body = rows.filter((r): r is { label: string; cells: string[] } => typeof r === 'object' && 'cells' in r);
  const widths = heads.map((h, i) => Math.max(h.length, ...body.map((r) => (i === 0 ? r.label.length : (r.cells[i - 1]?.length ?? 0)))));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const rule = '─'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  return rows.map((r) => {
    if (r === 'rule') return rule;
    if (r === 'head') return line(heads);
    if ('cells' in r) return line([r.label, ...r.cells]);
    return r.span === '' ? r.label : `${r.label.padEnd(widths[0]!)}  ${r.span}`;
  });
}

export function duration(seconds: number): string {
  if (seconds >= 1) return `${seconds.toFixed(2)} s`;
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(seconds < 1e-5 ? 1 : 0)} µs`;
  const ms = seconds * 1000;
  return `${ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)} ms`;
}
