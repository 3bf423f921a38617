// A small typed builder for ONNX graphs, written on onnx-proto's generated protobuf classes.
// Exporters describe a network as a sequence of ONNX ops; the builder names values, stores weights
// as float32 initializers and encodes the ModelProto. Opset 17 gives LayerNormalization natively.
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto
/** Plain numbers are INT attributes; floats must be wrapped as { float } so the type is never guessed. */
export type AttributeValue = number | number[] | string | { float: number } | { floats: number[] }

export const ONNX_OPSET = 17
export const ONNX_IR_VERSION = 8

/** A symbolic value inside the graph being built. */
export interface OnnxValue {
  readonly name: string
}

export type ElemType = 'float32' | 'float16' | 'int32' | 'int64'

const ELEM_TYPES: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
}

/** A dimension is a fixed size or a symbolic name such as 'batch'. */
export type Dim = number | string

function valueInfo(name: string, elemType: ElemType, shape: Dim[]): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: ELEM_TYPES[elemType],
        shape: onnx.TensorShapeProto.create({
          dim: shape.map((d) =>
            typeof d === 'number'
              ? onnx.TensorShapeProto.Dimension.create({ dimValue: d })
              : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
          ),
        }),
      }),
    }),
  })
}

function attribute(name: string, value: AttributeValue): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`ONNX attribute '${name}': ${value} is not an integer; pass { float } for floats`)
    return onnx.AttributeProto.create({ name, type: T.INT, i: value })
  }
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(value) })
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: value })
  if ('float' in value) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: value.float })
  return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: value.floats })
}

export class OnnxGraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = []
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = []
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = []
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = []
  private readonly usedNames = new Set<string>()
  private counter = 0

  constructor(readonly graphName: string) {}

  private fresh(hint: string): string {
    let name = `${hint}_${this.counter++}`
    while (this.usedNames.has(name)) name = `${hint}_${this.counter++}`
    this.usedNames.add(name)
    return name
  }

  private claim(name: string): string {
    if (this.usedNames.has(name)) throw new Error(`ONNX value name '${name}' is used twice`)
    this.usedNames.add(name)
    return name
  }

  input(name: string, elemType: ElemType, shape: Dim[]): OnnxValue {
    this.inputs.push(valueInfo(this.claim(name), elemType, shape))
    return { name }
  }

  output(value: OnnxValue, name: string, elemType: ElemType, shape: Dim[]): void {
    const out = this.claim(name)
    this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [value.name], output: [out], name: `output_${out}` }))
    this.outputs.push(valueInfo(out, elemType, shape))
  }

  /** A float32 weight stored in the model (little-endian raw bytes). */
  weight(name: string, shape: number[], data: Float32Array): OnnxValue {
    const expected = shape.reduce((a, b) => a * b, 1)
    if (data.length !== expected) throw new Error(`ONNX weight '${name}': ${data.length} values for shape [${shape}]`)
    const tensorName = this.claim(name)
    this.initializers.push(
      onnx.TensorProto.create({
        name: tensorName,
        dims: shape,
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(new Float32Array(data).buffer),
      }),
    )
    return { name: tensorName }
  }

  /** A constant int64 vector, e.g. a shape for Reshape or axes for Unsqueeze. */
  int64s(values: number[], hint = 'const_i64'): OnnxValue {
    const name = this.fresh(hint)
    const bytes = new BigInt64Array(values.map((v) => BigInt(v)))
    this.initializers.push(
      onnx.TensorProto.create({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(bytes.buffer) }),
    )
    return { name }
  }

  scalar(value: number, hint = 'const_f32'): OnnxValue {
    const name = this.fresh(hint)
    this.initializers.push(
      onnx.TensorProto.create({ name, dims: [], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(new Float32Array([value]).buffer) }),
    )
    return { name }
  }

  /** Add one node; returns its outputs (one unless `outputs` > 1). */
  op(opType: string, inputs: (OnnxValue | null)[], attrs: Record<string, AttributeValue> = {}, outputs = 1): OnnxValue[] {
    const outNames = Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()))
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        name: this.fresh(`node_${opType}`),
        input: inputs.map((v) => (v ? v.name : '')),
        output: outNames,
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    )
    return outNames.map((name) => ({ name }))
  }

  /** Convenience for single-output ops. */
  op1(opType: string, inputs: (OnnxValue | null)[], attrs: Record<string, AttributeValue> = {}): OnnxValue {
    return this.op(opType, inputs, attrs, 1)[0]!
  }

  encode(docString = ''): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      producerName: 'di-studio',
      producerVersion: '0.1.0',
      docString,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: ONNX_OPSET })],
      graph: onnx.GraphProto.create({
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    })
    return onnx.ModelProto.encode(model).finish()
  }
}

/** Read a model back (used by tests and by the importer to check signatures). */
export function decodeModel(bytes: Uint8Array): InstanceType<typeof onnx.ModelProto> {
  return onnx.ModelProto.decode(bytes)
}
