// The part of the ONNX file format (onnx.proto, IR version 8) that dlip writes and reads, declared
// for protobufjs by message and field number. Only the fields an inference graph uses are listed;
// protobufjs skips the others when decoding, so files from other tools still read.
import protobuf from 'protobufjs';

const f = (type: string, id: number, repeated = false) => (repeated ? { type, id, rule: 'repeated' } : { type, id });

const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: { fields: { key: f('string', 1), value: f('string', 2) } },
        OperatorSetIdProto: { fields: { domain: f('string', 1), version: f('int64', 2) } },
        TensorShapeProto: {
          fields: { dim: f('Dimension', 1, true) },
          nested: { Dimension: { fields: { dim_value: f('int64', 1), dim_param: f('string', 2), denotation: f('string', 3) } } },
        },
        TypeProto: {
          fields: { tensor_type: f('Tensor', 1), denotation: f('string', 6) },
          nested: { Tensor: { fields: { elem_type: f('int32', 1), shape: f('TensorShapeProto', 2) } } },
        },
        ValueInfoProto: { fields: { name: f('string', 1), type: f('TypeProto', 2), doc_string: f('string', 3) } },
        TensorProto: {
          fields: {
            dims: f('int64', 1, true),
            data_type: f('int32', 2),
            float_data: f('float', 4, true),
            int32_data: f('int32', 5, true),
            int64_data: f('int64', 7, true),
            name: f('string', 8),
            raw_data: f('bytes', 9),
            doc_string: f('string', 12),
          },
        },
        AttributeProto: {
          fields: {
            name: f('string', 1),
            f: f('float', 2),
            i: f('int64', 3),
            s: f('bytes', 4),
            t: f('TensorProto', 5),
            floats: f('float', 7, true),
            ints: f('int64', 8, true),
            type: f('int32', 20),
          },
        },
        NodeProto: {
          fields: {
            input: f('string', 1, true),
            output: f('string', 2, true),
            name: f('string', 3),
            op_type: f('string', 4),
            attribute: f('AttributeProto', 5, true),
            doc_string: f('string', 6),
            domain: f('string', 7),
          },
        },
        GraphProto: {
          fields: {
            node: f('NodeProto', 1, true),
            name: f('string', 2),
            initializer: f('TensorProto', 5, true),
            doc_string: f('string', 10),
            input: f('ValueInfoProto', 11, true),
            output: f('ValueInfoProto', 12, true),
          },
        },
        ModelProto: {
          fields: {
            ir_version: f('int64', 1),
            producer_name: f('string', 2),
            producer_version: f('string', 3),
            domain: f('string', 4),
            model_version: f('int64', 5),
            doc_string: f('string', 6),
            graph: f('GraphProto', 7),
            opset_import: f('OperatorSetIdProto', 8, true),
            metadata_props: f('StringStringEntryProto', 14, true),
          },
        },
      },
    },
  },
});

const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType codes of the element types dlip's graphs use. */
export const DATA_TYPES = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9 } as const;
export type ElemType = keyof typeof DATA_TYPES;

/** AttributeProto.AttributeType codes. */
export const ATTRIBUTE_TYPES = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export interface TensorMessage {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

export interface AttributeMessage {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorMessage;
  floats?: number[];
  ints?: number[];
}

export interface NodeMessage {
  name: string;
  op_type: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute: AttributeMessage[];
}

export interface ValueInfoMessage {
  name: string;
  doc_string?: string;
  type: { tensor_type: { elem_type: number; shape: { dim: ({ dim_value: number } | { dim_param: string })[] } } };
}

export interface ModelMessage {
  ir_version: number;
  producer_name: string;
  producer_version: string;
  doc_string?: string;
  opset_import: { domain: string; version: number }[];
  metadata_props: { key: string; value: string }[];
  graph: {
    name: string;
    node: NodeMessage[];
    initializer: TensorMessage[];
    input: ValueInfoMessage[];
    output: ValueInfoMessage[];
  };
}

/** The serialised .onnx file of a model. */
export function encodeModel(model: ModelMessage): Uint8Array {
  const message = ModelProto.fromObject(model);
  const problem = ModelProto.verify(message);
  if (problem) throw new Error(`ONNX model "${model.graph.name}" does not encode: ${problem}`);
  return ModelProto.encode(message).finish();
}

/** A .onnx file read back (plain object; int64 fields as numbers, bytes as Uint8Array). */
export function decodeModel(bytes: Uint8Array): ModelMessage {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Uint8Array as unknown as typeof String, defaults: false, arrays: true }) as ModelMessage;
}
