// The shape of a setting (settings.ts and settings-lifecycle.ts hold the
// table).
export type SettingKind = 'string' | 'int' | 'bool' | 'url';

export interface SettingSpec {
  env: string;
  kind: SettingKind;
  /** undefined: required (no default). */
  default?: string;
  meaning: string;
  /** Read by the worker process (so docker-compose must provide it). */
  worker: boolean;
}
