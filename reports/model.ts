/** The run report: one JSON document per run and backbone (reports/<runId>/report.json). */
import type { Task } from '../datasets/labels.ts';
import type { FusedResult } from '../heads/fusionRuns.ts';
import type { AuResult, CeResult, EmiResult, ExprResult, VaResult } from '../heads/tasks.ts';
import type { CeVariantsResult } from '../heads/ceRuns.ts';
import type { SkippedTask } from '../heads/untrained.ts';
import type { HeadProtocol } from '../heads/protocol.ts';
import type { ExecutionProvider } from '../models/onnxRuntime.ts';

/** A task result as reported: the head itself lives in the store under headKey. */
export type Stored<T> = Omit<T, 'head'> & { readonly headKey: string };

export type ExprReport = Stored<ExprResult>;
export type VaReport = Stored<VaResult>;
export type AuReport = Stored<AuResult>;
export type EmiReport = Stored<EmiResult>;
/** variants: the C-EXPR-DB variants (heads/ceRuns.ts); absent in reports before they existed. */
export type CeReport = CeResult & { readonly variants?: CeVariantsResult };
export type { SkippedTask } from '../heads/untrained.ts';

/**
 * The committed embedding shards a report was computed from, listed by the index object
 * `indexKey` (JSON: `objects`, the data objects' keys relative to the store root, in key order).
 * Reading the objects it names sees committed data only, never an orphan left by a crash.
 */
export interface EmbeddingIndex {
  readonly format: 'affectflow-embedding-index/1';
  readonly datasetId: string;
  readonly backbone: string;
  /** Where the shards' markers and data objects live. */
  readonly prefix: string;
  readonly shards: number;
  readonly rows: number;
  readonly objects: readonly string[];
}

/** A task's late fusion as reported: its weights and record live in the store under headKey. */
export type FusedReport = FusedResult & { readonly headKey: string };

/**
 * The audio half of a run with an audio backbone: the audio heads trained on the audio embedding
 * rows (one per video frame) exactly as the visual heads, and per task the fusion of both.
 */
export interface AudioReport {
  /** The audio backbone's id, name@version, as its embedding key folder names it. */
  readonly backbone: string;
  /** The audio embeddings' key folder: `embeddings/<datasetId>/<backbone>/<configHash>/`. */
  readonly prefix: string;
  readonly embeddingShards: number;
  readonly embeddingRows: number;
  readonly tasks: {
    readonly EXPR?: ExprReport;
    readonly VA?: VaReport;
    readonly AU?: AuReport;
    readonly EMI?: EmiReport;
  };
  readonly fused: { readonly [K in 'EXPR' | 'VA' | 'AU' | 'EMI']?: FusedReport };
  /** Audio tasks without a head, each with its reason. */
  readonly skipped: readonly SkippedTask[];
}

/** One backbone's challenge scores by task, for the comparison across backbones. */
export interface BackboneScores {
  readonly backbone: string;
  readonly scores: Readonly<Record<string, number>>;
}

export interface RunReport {
  readonly runId: string;
  readonly datasetId: string;
  readonly backbone: string;
  readonly embeddingShards: number;
  readonly embeddingRows: number;
  readonly createdAt: string;
  /** Where the head graphs ran. */
  readonly provider: ExecutionProvider;
  /**
   * How the heads were fitted and scored (heads/protocol.ts); absent in reports before it existed,
   * which used the challenge protocol.
   */
  readonly protocol?: HeadProtocol;
  readonly tasks: {
    /** Absent when the dataset has no EXPR labels (C-EXPR-DB, Hume-Vidmimic2). */
    readonly EXPR?: ExprReport;
    readonly VA?: VaReport;
    readonly AU?: AuReport;
    readonly CE?: CeReport;
    readonly EMI?: EmiReport;
  };
  /** Tasks without a head in this report, each with its reason (absent in reports before it existed). */
  readonly skipped?: readonly SkippedTask[];
  /** Where the embeddings are: their prefix and the index of their committed data objects. */
  readonly embeddings?: { readonly prefix: string; readonly indexKey: string };
  /** Audio heads and late fusion; absent in a run without an audio backbone. */
  readonly audio?: AudioReport;
  /** Scores of the backbones reported so far in the same run, this one included. */
  readonly comparison: readonly BackboneScores[];
  readonly htmlKey: string;
  /** Submission files of the Test split by task (one per video; EMI one CSV). */
  readonly predictionKeys: Readonly<Partial<Record<Task, readonly string[]>>>;
}
