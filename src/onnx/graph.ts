// Building one ONNX graph: named inputs, outputs, initializers (model parameters, stored once each)
// and nodes, with value names made unique. Builders of model parts (layers.ts) call `op` and never
// touch protobuf messages; `encode` turns the result into an .onnx file.
import { readPackageVersion } from '../version.js';
import type { Parameter } from '../nn/module.js';
import { ATTRIBUTE_TYPES, DATA_TYPES, encodeModel } from './proto.js';
import type { AttributeMessage, ElemType, NodeMessage, TensorMessage, ValueInfoMessage } from './proto.js';

/** The ONNX operator set the graphs target (LayerNormalization needs 17). */
export const OPSET = 17;
/** IR version 8 is what opset 17 was released with; every onnxruntime since 1.12 reads it. */
export const IR_VERSION = 8;

/** A dimension: a fixed size or a symbolic name ("batch", "sequence") that stays dynamic. */
export type Dim = number | string;

export interface ValueSpec {
  name: string;
  type: ElemType;
  dims: Dim[];
  doc: string;
}

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { tensor: TensorMessage };

type TypedData = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

function bytesOf(data: TypedData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function toAttribute(name: string, value: AttrValue): AttributeMessage {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: ${value} is not an integer; pass { float } for a float`);
    return { name, type: ATTRIBUTE_TYPES.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: ATTRIBUTE_TYPES.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: ATTRIBUTE_TYPES.INTS, ints: value };
  if ('float' in value) return { name, type: ATTRIBUTE_TYPES.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: ATTRIBUTE_TYPES.FLOATS, floats: value.floats };
  return { name, type: ATTRIBUTE_TYPES.TENSOR, t: value.tensor };
}

function valueInfo(spec: ValueSpec): ValueInfoMessage {
  const dim = spec.dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return { name: spec.name, doc_string: spec.doc, type: { tensor_type: { elem_type: DATA_TYPES[spec.type], shape: { dim } } } };
}

export class Graph {
  private readonly nodes: NodeMessage[] = [];
  private readonly initializers: TensorMessage[] = [];
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private readonly used = new Set<string>();
  private readonly parameterValues = new Map<string, string>();
  private readonly constants = new Map<string, string>();

  /** `parameterNames`: each model parameter's checkpoint key, used as its initializer's name. */
  constructor(
    readonly name: string,
    private readonly parameterNames: Map<Parameter, string>,
  ) {}

  /** A fresh value name starting with `base`. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  input(spec: ValueSpec): string {
    if (this.used.has(spec.name)) throw new Error(`graph ${this.name}: input name "${spec.name}" already used`);
    this.used.add(spec.name);
    this.inputs.push(spec);
    return spec.name;
  }

  /** Declares `value` as the graph output `spec.name` (through an Identity when named otherwise). */
  output(value: string, spec: ValueSpec): void {
    if (value !== spec.name) {
      if (this.used.has(spec.name)) throw new Error(`graph ${this.name}: output name "${spec.name}" already used`);
      this.used.add(spec.name);
      this.nodes.push({ name: `${spec.name}_identity`, op_type: 'Identity', input: [value], output: [spec.name], attribute: [] });
    }
    this.outputs.push(spec);
  }

  /** An initializer holding `data` with shape `dims`. */
  tensor(base: string, type: ElemType, dims: number[], data: TypedData): string {
    const name = this.fresh(base);
    this.initializers.push({ name, dims, data_type: DATA_TYPES[type], raw_data: Uint8Array.from(bytesOf(data)) });
    return name;
  }

  /**
   * A model parameter as an initializer, named by its checkpoint key plus `suffix`, stored once per
   * (parameter, suffix) however often it is used. `transform` rewrites its values (e.g. transposes).
   */
  parameter(p: Parameter, suffix = '', transform?: (data: Float32Array) => { dims: number[]; data: Float32Array }): string {
    const key = this.parameterNames.get(p);
    if (key === undefined) throw new Error(`graph ${this.name}: a parameter of shape [${p.shape.join(',')}] is not part of the exported model`);
    const id = key + suffix;
    const known = this.parameterValues.get(id);
    if (known) return known;
    const values = p.value.dataSync() as Float32Array;
    const { dims, data } = transform ? transform(values) : { dims: [...p.shape], data: values };
    const name = this.tensor(id, 'float32', dims, data);
    this.parameterValues.set(id, name);
    return name;
  }

  /** The checkpoint key of a parameter (for builders that derive data from it, e.g. quantisation). */
  keyOf(p: Parameter): string {
    const key = this.parameterNames.get(p);
    if (key === undefined) throw new Error(`graph ${this.name}: a parameter of shape [${p.shape.join(',')}] is not part of the exported model`);
    return key;
  }

  /** An int64 constant (shapes, axes, indices), shared by equal values. */
  ints(values: readonly number[], scalar = false): string {
    const id = `i64${scalar ? 's' : ''}:${values.join(',')}`;
    const known = this.constants.get(id);
    if (known) return known;
    const name = this.tensor(`const_${scalar ? 's' : ''}${values.join('_').replace(/-/g, 'm')}`, 'int64', scalar ? [] : [values.length], BigInt64Array.from(values, BigInt));
    this.constants.set(id, name);
    return name;
  }

  /** A float32 scalar constant, shared by equal values. */
  scalar(value: number): string {
    const id = `f32:${value}`;
    const known = this.constants.get(id);
    if (known) return known;
    const name = this.tensor('const_f', 'float32', [], Float32Array.of(value));
    this.constants.set(id, name);
    return name;
  }

  /** Adds a node of `opType`; returns its output names (`outputs` of them). Empty input names skip optional inputs. */
  opN(opType: string, inputs: readonly string[], outputs: number, attrs: Record<string, AttrValue> = {}, domain?: string): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()));
    const attribute = Object.entries(attrs).map(([k, v]) => toAttribute(k, v));
    this.nodes.push({ name: this.fresh(`${opType}_node`), op_type: opType, ...(domain ? { domain } : {}), input: [...inputs], output: names, attribute });
    return names;
  }

  /** Adds a node with one output and returns its name. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}): string {
    return this.opN(opType, inputs, 1, attrs)[0]!;
  }

  /** The specs of the graph's inputs and outputs, as documented. */
  signature(): { inputs: ValueSpec[]; outputs: ValueSpec[] } {
    return { inputs: [...this.inputs], outputs: [...this.outputs] };
  }

  /** Bytes held by initializers. */
  get initializerBytes(): number {
    return this.initializers.reduce((n, t) => n + t.raw_data.byteLength, 0);
  }

  /** The .onnx file. */
  encode(doc: string, metadata: Record<string, string> = {}): Uint8Array {
    return encodeModel({
      ir_version: IR_VERSION,
      producer_name: 'dlip',
      producer_version: readPackageVersion(),
      doc_string: doc,
      opset_import: [{ domain: '', version: OPSET }],
      metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    });
  }
}
