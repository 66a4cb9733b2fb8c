// The one place that decides where reports go: object storage when it is configured, else the
// service's own disk, with links to this service's download route.
import path from 'node:path';
import type { Config } from '../config';
import { LocalReportStorage } from './localReportStorage';
import type { ReportStorage } from './reportStorage';
import { S3ReportStorage } from './s3ReportStorage';

export function createReportStorage(config: Pick<Config, 's3' | 'dataDir' | 'publicUrl'>): ReportStorage {
  return config.s3 ? new S3ReportStorage(config.s3) : new LocalReportStorage(path.join(config.dataDir, 'reports'), config.publicUrl);
}
