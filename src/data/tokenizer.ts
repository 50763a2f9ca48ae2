// BLIP's tokenizer: bert-base-uncased WordPiece plus [DEC] (30522, the decoder's BOS) and [ENC] (30523).
// The WordPiece algorithm itself is @huggingface/tokenizers; this module only assembles the
// tokenizer.json it expects from the shipped vocab file and adds padding/truncation to fixed shapes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { assetsDir } from '../paths.js';
import { tf } from '../engine/backend.js';

export const PAD_ID = 0;
export const UNK_ID = 100;
export const CLS_ID = 101;
export const SEP_ID = 102;
export const DEC_ID = 30522;
export const ENC_ID = 30523;
export const VOCAB_SIZE = 30524;

/** Which token opens the sequence: [CLS] (text encoder), [DEC] (decoder BOS) or [ENC] (fusion encoder). */
export type FirstToken = 'cls' | 'dec' | 'enc';

export interface EncodeOptions {
  /** Sequences are cut to this many tokens, [SEP] kept last. */
  maxLength: number;
  /** 'max_length' pads every row to maxLength; 'longest' to the longest row of the batch. Default 'longest'. */
  padding?: 'max_length' | 'longest';
  firstToken?: FirstToken;
}

/** Row-major [rows, length] token ids and attention masks. */
export interface EncodedBatch {
  ids: Int32Array;
  mask: Int32Array;
  rows: number;
  length: number;
}

export const defaultVocabPath = (): string => join(assetsDir, 'vocab.txt');

const FIRST_IDS: Record<FirstToken, number> = { cls: CLS_ID, dec: DEC_ID, enc: ENC_ID };

/**
 * The Hugging Face tokenizer.json and tokenizer_config.json of BLIP's tokenizer, assembled from a
 * WordPiece vocab file (also what `dlip export onnx` writes beside its graphs).
 */
export function blipTokenizerFiles(vocabPath: string = defaultVocabPath()): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const lines = readFileSync(vocabPath, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== DEC_ID) {
    throw new Error(`${vocabPath}: expected ${DEC_ID} WordPiece entries, found ${lines.length}`);
  }
  const vocab: Record<string, number> = {};
  lines.forEach((token, id) => {
    vocab[token.replace(/\r$/, '')] = id;
  });
  vocab['[DEC]'] = DEC_ID;
  vocab['[ENC]'] = ENC_ID;
  const special = (content: string, id: number) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      special('[PAD]', PAD_ID), special('[UNK]', UNK_ID), special('[CLS]', CLS_ID), special('[SEP]', SEP_ID),
      special('[MASK]', 103), special('[DEC]', DEC_ID), special('[ENC]', ENC_ID),
    ],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [CLS_ID], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [SEP_ID], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  const config = {
    tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: 512,
    pad_token: '[PAD]', unk_token: '[UNK]', cls_token: '[CLS]', sep_token: '[SEP]', mask_token: '[MASK]',
    bos_token: '[DEC]', clean_up_tokenization_spaces: true,
  };
  return { tokenizer: tokenizerJson, config };
}

export class BlipTokenizer {
  private readonly hf: Tokenizer;

  constructor(vocabPath: string = defaultVocabPath()) {
    const { tokenizer, config } = blipTokenizerFiles(vocabPath);
    this.hf = new Tokenizer(tokenizer, config);
  }

  /** Ids of one text with [CLS] … [SEP] (BERT's special tokens), no truncation. */
  encodeOne(text: string): number[] {
    return this.hf.encode(text).ids;
  }

  /** WordPiece tokens of one text without special tokens. */
  tokenize(text: string): string[] {
    return this.hf.tokenize(text);
  }

  /** Text of ids; special tokens ([PAD], [CLS], [SEP], [DEC], [ENC]) dropped by default. */
  decode(ids: ArrayLike<number>, skipSpecial = true): string {
    return this.hf.decode(Array.from(ids), { skip_special_tokens: skipSpecial });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** Pads/truncates a batch to a rectangle with attention masks (1 = token, 0 = pad). */
  encodeBatch(texts: readonly string[], options: EncodeOptions): EncodedBatch {
    const { maxLength } = options;
    if (!Number.isInteger(maxLength) || maxLength < 2) throw new Error(`maxLength must be an integer >= 2, got ${maxLength}`);
    const first = FIRST_IDS[options.firstToken ?? 'cls'];
    const rowsIds = texts.map((text) => {
      const ids = this.encodeOne(text);
      ids[0] = first;
      if (ids.length > maxLength) {
        ids.length = maxLength;
        ids[maxLength - 1] = SEP_ID;
      }
      return ids;
    });
    const length = options.padding === 'max_length' ? maxLength : Math.max(2, ...rowsIds.map((r) => r.length));
    const ids = new Int32Array(texts.length * length);
    const mask = new Int32Array(texts.length * length);
    rowsIds.forEach((row, r) => {
      ids.set(row, r * length);
      mask.fill(1, r * length, r * length + row.length);
    });
    return { ids, mask, rows: texts.length, length };
  }

  /** encodeBatch as int32 tensors [B,T]; the caller disposes them. */
  encodeToTensors(texts: readonly string[], options: EncodeOptions): { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D } {
    const enc = this.encodeBatch(texts, options);
    return {
      inputIds: tf.tensor2d(enc.ids, [enc.rows, enc.length], 'int32'),
      attentionMask: tf.tensor2d(enc.mask, [enc.rows, enc.length], 'int32'),
    };
  }
}

let shared: BlipTokenizer | undefined;
/** One tokenizer per process built from the shipped vocab (building it parses 30k entries). */
export function defaultTokenizer(): BlipTokenizer {
  shared ??= new BlipTokenizer();
  return shared;
}
