// Reading a Prometheus text exposition the way a scraper does, for tests
// that check what a real endpoint reports; and the queries of the
// provisioned dashboard and alert rules (deploy/), for tests that check them.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const deployDir = path.resolve(__dirname, '..', '..', 'deploy');

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface DashboardPanel {
  title: string;
  datasource: { type: string; uid: string };
  targets: Array<{ expr: string; datasource: { uid: string } }>;
}

/** deploy/prometheus/alerts.yml, parsed. */
export function alertRules(): AlertRule[] {
  const doc = parse(fs.readFileSync(path.join(deployDir, 'prometheus', 'alerts.yml'), 'utf8')) as { groups: Array<{ rules: AlertRule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

/** deploy/grafana/bundle-index.json, parsed. */
export function dashboard(): { uid: string; panels: DashboardPanel[] } {
  return JSON.parse(fs.readFileSync(path.join(deployDir, 'grafana', 'bundle-index.json'), 'utf8'));
}

/** Every PromQL expression of the alert rules and the dashboard, with where it is. */
export function deployedQueries(): Array<{ where: string; expr: string }> {
  return [...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })), ...dashboard().panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })))];
}

export interface Scrape {
  text: string;
  /** The value of one series: `name` with exactly these labels (undefined when absent). */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every metric family named in `# TYPE` lines, with its type. */
  types: Map<string, string>;
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return parseExposition(await res.text());
}

export function parseExposition(text: string): Scrape {
  const series = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    series.set(seriesKey(m[1]!, labelsOf(m[2] ?? '')), Number(m[3]));
  }
  return { text, types, value: (name, labels = {}) => series.get(seriesKey(name, labels)) };
}

function labelsOf(body: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return labels;
}

function seriesKey(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;
}

/**
 * The metric names the provisioned dashboard and the alert rules query (the
 * hub's, the SDK's and Node's: names starting musehub_, temporal_, process_,
 * nodejs_), each with where it is used.
 */
export function metricsQueriedIn(expressions: Array<{ where: string; expr: string }>): Map<string, string> {
  const used = new Map<string, string>();
  for (const { where, expr } of expressions) {
    for (const m of expr.matchAll(/\b((?:musehub|temporal|process|nodejs)_[a-z0-9_]+)\b/g)) used.set(m[1]!, where);
  }
  return used;
}

/** The family a sample name belongs to (a histogram's _bucket, _sum and _count are its own). */
export function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return types.get(base) === 'histogram' ? base : undefined;
}
