// A minimal reader of an ONNX file's graph: the op type, inputs and `strides` of each
// node of the main graph, and the shapes of its initializers. onnxruntime-node exposes
// only a session's inputs and outputs, and the loader needs a little of the graph itself
// (a UNet's stride-2 convolutions give its downsampling, its first convolution's weight
// the channels it takes). It reads the protobuf wire format directly, through a small window of
// the file, and skips everything else unread: initializers that hold the weights inline
// (a UNet under 2 GB) cost no memory, and external data files (`weights.pb`,
// `model.onnx_data`) are never opened.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { u8At } from '../../checked.js';
import { ModelLoadError } from '../errors.js';

export interface GraphNode {
  opType: string;
  domain: string;
  inputs: string[];
  /** The `strides` attribute (Conv, pooling), or null when the node has none. */
  strides: number[] | null;
}

export interface OnnxGraph {
  nodes: GraphNode[];
  /** Each initializer's dimensions by name (its data, inline or external, is not read). */
  initializers: Map<string, number[]>;
}

// Field numbers of onnx.proto (ModelProto.graph, GraphProto.*, NodeProto.*, AttributeProto.*, TensorProto.*).
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const NODE_INPUT = 1;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const NODE_DOMAIN = 7;
const ATTRIBUTE_NAME = 1;
const ATTRIBUTE_INTS = 8;
const TENSOR_DIMS = 1;
const TENSOR_NAME = 8;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const WINDOW = 1 << 16;

/** Reads bytes at any position of a file through one buffered window. */
class FileCursor {
  private readonly buffer = Buffer.alloc(WINDOW);
  private start = 0;
  private end = 0;
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  private byteAt(pos: number): number {
    if (pos < this.start || pos >= this.end) {
      if (pos >= this.size) throw new ModelLoadError('the file ends inside a message');
      this.start = pos;
      this.end = pos + readSync(this.fd, this.buffer, 0, WINDOW, pos);
    }
    return u8At(this.buffer, pos - this.start);
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byteAt(this.pos++);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new ModelLoadError('malformed varint');
  }

  /** A varint read as a signed 64-bit integer (negative values use ten bytes). */
  signedVarint(): number {
    const v = this.varint();
    return v >= 2 ** 63 ? v - 2 ** 64 : v;
  }

  text(length: number): string {
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i++) bytes[i] = this.byteAt(this.pos + i);
    this.pos += length;
    return bytes.toString('utf8');
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_I64) this.pos += 8;
    else if (wire === WIRE_I32) this.pos += 4;
    else if (wire === WIRE_LEN) {
      const length = this.varint();
      this.pos += length;
    } else throw new ModelLoadError(`unsupported protobuf wire type ${wire}`);
  }
}

/** Calls `onField(field, wire)` for each field of the message ending at `end`; it reads the field or returns false to skip it. */
function fields(c: FileCursor, end: number, onField: (field: number, wire: number) => boolean): void {
  while (c.pos < end) {
    const key = c.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (!onField(field, wire)) c.skip(wire);
  }
  if (c.pos !== end) throw new ModelLoadError('a message overruns its length');
}

/** Reads one element of a repeated int64 field, or all of them when packed. */
function readInts(c: FileCursor, wire: number, into: number[]): boolean {
  if (wire === WIRE_VARINT) {
    into.push(c.signedVarint());
    return true;
  }
  if (wire !== WIRE_LEN) return false;
  const packedEnd = c.varint() + c.pos;
  while (c.pos < packedEnd) into.push(c.signedVarint());
  return true;
}

/** A message with a name (field `nameField`) and a repeated int64 field `intsField`: an attribute's ints, a tensor's dims. */
function readNamedInts(c: FileCursor, end: number, nameField: number, intsField: number): { name: string; ints: number[] } {
  let name = '';
  const ints: number[] = [];
  fields(c, end, (field, wire) => {
    if (field === nameField && wire === WIRE_LEN) {
      name = c.text(c.varint());
      return true;
    }
    return field === intsField && readInts(c, wire, ints);
  });
  return { name, ints };
}

function readNode(c: FileCursor, end: number): GraphNode {
  const node: GraphNode = { opType: '', domain: '', inputs: [], strides: null };
  fields(c, end, (field, wire) => {
    if (wire !== WIRE_LEN) return false;
    if (field === NODE_INPUT || field === NODE_OP_TYPE || field === NODE_DOMAIN) {
      const value = c.text(c.varint());
      if (field === NODE_INPUT) node.inputs.push(value);
      else if (field === NODE_OP_TYPE) node.opType = value;
      else node.domain = value;
      return true;
    }
    if (field === NODE_ATTRIBUTE) {
      const attributeEnd = c.varint() + c.pos;
      const attribute = readNamedInts(c, attributeEnd, ATTRIBUTE_NAME, ATTRIBUTE_INTS);
      if (attribute.name === 'strides') node.strides = attribute.ints;
      return true;
    }
    return false;
  });
  return node;
}

/** The nodes (in file order) and initializer shapes of an ONNX file's main graph; subgraphs and functions are not read. */
export function readGraph(file: string): OnnxGraph {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    throw new ModelLoadError(`missing ${file}`);
  }
  try {
    const c = new FileCursor(fd, fstatSync(fd).size);
    const graph: OnnxGraph = { nodes: [], initializers: new Map() };
    fields(c, c.size, (field, wire) => {
      if (field !== MODEL_GRAPH || wire !== WIRE_LEN) return false;
      const graphEnd = c.varint() + c.pos;
      fields(c, graphEnd, (graphField, graphWire) => {
        if (graphWire !== WIRE_LEN || (graphField !== GRAPH_NODE && graphField !== GRAPH_INITIALIZER)) return false;
        const end = c.varint() + c.pos;
        if (graphField === GRAPH_NODE) {
          graph.nodes.push(readNode(c, end));
        } else {
          const tensor = readNamedInts(c, end, TENSOR_NAME, TENSOR_DIMS);
          graph.initializers.set(tensor.name, tensor.ints);
        }
        return true;
      });
      return true;
    });
    return graph;
  } catch (err) {
    if (err instanceof ModelLoadError) throw new ModelLoadError(`${file} is not a readable ONNX file: ${err.message}`);
    throw err;
  } finally {
    closeSync(fd);
  }
}
