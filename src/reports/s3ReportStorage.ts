// Reports in S3-compatible object storage through the minio client, handed out as presigned URLs.
import type { Readable } from 'node:stream';
import { Client } from 'minio';
import type { ReportStorage, StoredReport } from './reportStorage';

export interface S3Settings {
  /** e.g. http://127.0.0.1:9000 */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  pathStyle: boolean;
}

/** S3's smallest part: a report streams through in parts of this size, never whole. */
const PART_SIZE = 5 * 1024 * 1024;

export class S3ReportStorage implements ReportStorage {
  readonly kind = 's3' as const;
  private readonly client: Client;
  private bucketReady: Promise<void> | undefined;

  constructor(private readonly settings: S3Settings) {
    const url = new URL(settings.endpoint);
    const useSSL = url.protocol === 'https:';
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      region: settings.region,
      pathStyle: settings.pathStyle,
      partSize: PART_SIZE,
    });
  }

  async store(name: string, body: Readable, validForSeconds: number): Promise<StoredReport> {
    await this.ensureBucket();
    const key = `history/${name}.csv`;
    // Unknown size: minio uploads in parts of PART_SIZE, and nothing is visible until it completes.
    await this.client.putObject(this.settings.bucket, key, body, undefined, { 'Content-Type': 'text/csv; charset=utf-8' });
    return { url: await this.client.presignedGetObject(this.settings.bucket, key, validForSeconds) };
  }

  private ensureBucket(): Promise<void> {
    this.bucketReady ??= (async () => {
      if (!(await this.client.bucketExists(this.settings.bucket))) {
        await this.client.makeBucket(this.settings.bucket, this.settings.region).catch(async (error: unknown) => {
          // Another instance may have created it meanwhile.
          if (!(await this.client.bucketExists(this.settings.bucket))) throw error;
        });
      }
    })().catch((error: unknown) => {
      this.bucketReady = undefined;
      throw error;
    });
    return this.bucketReady;
  }
}
