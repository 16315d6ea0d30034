/**
 * KTAP output (Documentation/dev-tools/ktap.rst): "KTAP version 1", a plan "1..N", one
 * "ok N name" / "not ok N name" line per case, diagnostics as "# ..." lines. A case that cannot
 * run here is "ok N name # SKIP reason". Names carry no '#' (it starts a directive).
 */
export interface CaseResult {
  name: string;
  ok: boolean;
  skip?: string;
  diagnostics: string[];
}

export class KtapWriter {
  private n = 0;
  private failed = 0;

  constructor(
    private readonly write: (line: string) => void,
    planned: number,
  ) {
    write('KTAP version 1');
    write(`1..${planned}`);
  }

  get failures(): number {
    return this.failed;
  }

  get count(): number {
    return this.n;
  }

  diag(text: string): void {
    for (const l of text.split('\n')) this.write(`# ${l}`);
  }

  result(r: CaseResult): void {
    this.n += 1;
    for (const d of r.diagnostics) this.diag(d);
    const name = r.name.replace(/#/g, '_');
    if (r.skip !== undefined) {
      this.write(`ok ${this.n} ${name} # SKIP ${r.skip}`);
      return;
    }
    if (!r.ok) this.failed += 1;
    this.write(`${r.ok ? 'ok' : 'not ok'} ${this.n} ${name}`);
  }

  /** The kselftest-style totals line. */
  totals(): void {
    this.write(`# Totals: pass:${this.n - this.failed} fail:${this.failed}`);
  }
}
