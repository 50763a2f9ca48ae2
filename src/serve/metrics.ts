// Prometheus metrics of one server (its own registry, so tests can run several in one process).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ModelInfo } from './protocol.js';

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'dlip_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'dlip_http_request_duration_seconds',
    help: 'Time from request to response by route',
    labelNames: ['route', 'method'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({ name: 'dlip_batch_size', help: 'Items per model batch by job kind', labelNames: ['kind'], buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [this.registry] });
  readonly inference = new Histogram({
    name: 'dlip_inference_seconds',
    help: 'Worker time per batch by job kind (decode and forward)',
    labelNames: ['kind'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'dlip_queue_depth', help: 'Items waiting for the model worker', registers: [this.registry] });
  readonly model = new Gauge({ name: 'dlip_model_info', help: 'The model being served and what runs it: tfjs, onnx or onnx int8 (value 1)', labelNames: ['spec', 'version', 'architecture', 'runtime'], registers: [this.registry] });
  readonly swaps = new Counter({ name: 'dlip_model_swaps_total', help: 'Hot swaps by result', labelNames: ['result'], registers: [this.registry] });
  readonly galleryEntries = new Gauge({ name: 'dlip_gallery_entries', help: 'Entries in the gallery', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dlip_' });
  }

  setModel(info: ModelInfo): void {
    this.model.reset();
    this.model.set({ spec: info.spec, version: info.version, architecture: info.architecture, runtime: info.runtime }, 1);
  }
}
