import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { Registry } from 'prom-client';
import { SETTINGS, loadConfig } from '../../src/config';
import { HttpMetrics, Metrics } from '../../src/metrics';
import { alertRules, dashboard } from '../support/prometheus';

const root = path.resolve(__dirname, '../..');

// No Docker engine runs here, so docker-compose.yml is checked by reading it:
// every setting the worker needs is provided, and the addresses it is given
// match the services and ports that the file itself declares.
describe('docker-compose.yml', () => {
  const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
  const services = compose.services as Record<string, Record<string, unknown>>;
  const workerEnv = services.worker!.environment as Record<string, string>;

  test('runs PostgreSQL, SeaweedFS, Temporal with its UI, and the worker built from the Dockerfile', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['postgres', 'seaweedfs', 'temporal', 'temporal-ui', 'worker']));
    expect(services.seaweedfs!.image).toMatch(/^chrislusf\/seaweedfs:\d+\.\d+$/); // pinned by release tag
    expect(JSON.stringify(compose).toLowerCase()).not.toContain('minio');
    expect(services.worker!.build).toBe('.');
    const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:24/m);
    // The image's workers load the prebuilt workflow bundle, which `npm run build` writes as its last step.
    expect(dockerfile).toMatch(/^RUN npm run build\b/m);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.build).toMatch(/&& node scripts\/bundle-workflows\.mjs$/);
  });

  test('provides every setting the worker reads, and only known settings', () => {
    const needed = SETTINGS.filter((s) => s.worker).map((s) => s.env);
    expect(needed.filter((n) => !(n in workerEnv))).toEqual([]);
    const known = new Set<string>(SETTINGS.map((s) => s.env));
    expect(Object.keys(workerEnv).filter((k) => !known.has(k))).toEqual([]);
    expect(() => loadConfig(workerEnv)).not.toThrow();
  });

  test('runs the wire API with the same settings as the worker, listening on the port it publishes', () => {
    const hub = services.hub!;
    const hubEnv = hub.environment as Record<string, string>;
    expect(hub.command).toEqual(['node', 'bin/bundle-index', 'serve']);
    for (const [k, v] of Object.entries(workerEnv)) expect(hubEnv[k]).toBe(v);
    expect(hub.ports).toContain(`${hubEnv.HTTP_PORT}:${hubEnv.HTTP_PORT}`);
    expect(hubEnv.HTTP_HOST).toBe('0.0.0.0');
    const known = new Set<string>(SETTINGS.map((s) => s.env));
    expect(Object.keys(hubEnv).filter((k) => !known.has(k))).toEqual([]);
  });

  test('Prometheus scrapes the worker and hub metrics ports the file sets; Grafana is provisioned with it and the dashboard; alert rules are complete', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['prometheus', 'grafana']));
    expect(services.prometheus!.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(services.grafana!.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(workerEnv.METRICS_HOST).toBe('0.0.0.0');
    // Every file mounted from ./deploy exists.
    for (const svc of ['prometheus', 'grafana']) {
      for (const v of services[svc]!.volumes as string[]) {
        const [from] = v.split(':');
        if (from!.startsWith('./')) expect(fs.existsSync(path.join(root, from!))).toBe(true);
      }
    }
    const prom = parse(fs.readFileSync(path.join(root, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; dns_sd_configs?: Array<{ names: string[]; port: number }>; static_configs?: Array<{ targets: string[] }> }>;
    };
    expect(prom.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    const jobs = Object.fromEntries(prom.scrape_configs.map((j) => [j.job_name, j]));
    expect(jobs['bundle-index-worker']!.dns_sd_configs).toEqual([{ names: ['worker'], type: 'A', port: Number(workerEnv.WORKER_METRICS_PORT) }]);
    expect(jobs['bundle-index-hub']!.static_configs).toEqual([{ targets: [`hub:${workerEnv.HUB_METRICS_PORT}`] }]);
    expect(services.prometheus!.ports).toContain('9090:9090');

    const datasource = parse(fs.readFileSync(path.join(root, 'deploy/grafana/datasource.yml'), 'utf8')) as { datasources: Array<{ uid: string; url: string }> };
    expect(datasource.datasources).toEqual([expect.objectContaining({ uid: 'prometheus', url: 'http://prometheus:9090' })]);
    const board = dashboard();
    expect(board.panels.length).toBeGreaterThanOrEqual(10);
    for (const p of board.panels) {
      expect(p.datasource.uid).toBe('prometheus');
      expect(p.targets.length).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.datasource.uid).toBe('prometheus');
    }

    const rules = alertRules();
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(['ActivityScheduleToStartHigh', 'WorkflowTaskScheduleToStartHigh', 'WorkerActivitySlotsExhausted', 'StickyCacheThrashing', 'BundleIndexRunsFailing', 'ObjectBacklogGrowing']));
    for (const r of rules)
      expect(r).toEqual(
        expect.objectContaining({ expr: expect.any(String), labels: { severity: expect.stringMatching(/^(critical|warning|info)$/) }, annotations: expect.objectContaining({ summary: expect.any(String), description: expect.any(String) }) }),
      );
  });

  test('points the worker at the services and ports the file declares', () => {
    const db = new URL(workerEnv.DATABASE_URL!);
    const pgEnv = services.postgres!.environment as Record<string, string>;
    expect([db.hostname, db.port, db.username, db.password, db.pathname]).toEqual(['postgres', '5432', pgEnv.POSTGRES_USER, pgEnv.POSTGRES_PASSWORD, `/${pgEnv.POSTGRES_DB}`]);

    const s3 = new URL(workerEnv.S3_ENDPOINT!);
    const weedCmd = services.seaweedfs!.command as string[];
    expect(s3.hostname).toBe('seaweedfs');
    expect(weedCmd).toEqual(expect.arrayContaining(['server', '-s3', `-s3.port=${s3.port}`, '-s3.autoCreateBucket=false']));
    expect(services.seaweedfs!.ports).toContain(`${s3.port}:${s3.port}`);
    // The S3 gateway's identities come from the file's own config, mounted where -s3.config points.
    const mount = (services.seaweedfs!.configs as Array<{ source: string; target: string }>)[0]!;
    expect(weedCmd).toContain(`-s3.config=${mount.target}`);
    const identities = JSON.parse(compose.configs[mount.source].content) as { identities: Array<{ credentials: Array<{ accessKey: string; secretKey: string }> }> };
    expect(identities.identities.flatMap((i) => i.credentials)).toContainEqual({ accessKey: workerEnv.AWS_ACCESS_KEY_ID, secretKey: workerEnv.AWS_SECRET_ACCESS_KEY });
    expect(services.setup!.depends_on).toMatchObject({ seaweedfs: { condition: 'service_healthy' } });

    const [host, port] = workerEnv.TEMPORAL_ADDRESS!.split(':');
    expect(host).toBe('temporal');
    expect(services.temporal!.ports).toContain(`${port}:${port}`);
    expect((services['temporal-ui']!.environment as Record<string, string>).TEMPORAL_ADDRESS).toBe(workerEnv.TEMPORAL_ADDRESS);
  });
});

// The reference pages are generated from the code (test/docs/reference.test.ts
// keeps them fresh); these say what they must hold whatever the generator does.
describe('docs/reference', () => {
  const settings = fs.readFileSync(path.join(root, 'docs/reference/settings.md'), 'utf8');
  const metrics = fs.readFileSync(path.join(root, 'docs/reference/metrics.md'), 'utf8');

  test('lists every setting with its default', () => {
    const missing = SETTINGS.filter((s) => {
      const row = settings.split('\n').find((l) => l.startsWith(`| \`${s.env}\``));
      return !row || ('default' in s && s.default !== '' && !row.includes(s.default));
    }).map((s) => s.env);
    expect(missing).toEqual([]);
  });

  test('documents every metric the hub exports, with its type', () => {
    const registry = new Registry();
    new Metrics(registry).awaitingKey(async () => ({ pending: 0, bundle: 0 }));
    new HttpMetrics(registry);
    const exported = registry.getMetricsAsArray().map((m) => ({ name: m.name, type: String(m.type) }));
    expect(exported.length).toBeGreaterThan(10);
    const undocumented = exported.filter(({ name, type }) => !metrics.split('\n').some((l) => l.startsWith(`| \`${name}\` | ${type} |`)));
    expect(undocumented).toEqual([]);
  });
});
