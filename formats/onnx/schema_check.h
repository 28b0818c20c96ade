// schema_check.h - import-time checks of each node against its op's definition.
//
// Passes and kernels read attributes and operands as the op's specification promises them: a
// Transpose perm that is a permutation, a Conv group dividing the channels. Nothing checked
// that before, so a malformed file reached them (a ConvTranspose whose group does not divide
// its channels read past the end of its weights). The importer calls this once per model.
#pragma once

#include "converter/ir/model.h"
#include "converter/support/status.h"

namespace npuconv {

/// Checks every node of the main graph and its subgraphs (function bodies are left to their
/// callers' expansion):
/// - default-domain ops against onnx's OpSchemaRegistry for the model's opset: input and output
///   counts, required inputs present, attribute types, required attributes. An op the registry
///   does not know, another domain, or an opset newer than the registry's is not checked.
/// - the facts passes and kernels rely on, whatever the opset: Transpose perm is a permutation
///   (of the input's rank when known); Conv/ConvTranspose group >= 1 and divides the channels
///   when known; kernel_shape, strides, dilations positive and pads non-negative, their lengths
///   agreeing with each other and with the spatial rank; Gather, Concat, Softmax, LogSoftmax
///   and Hardmax axis within the rank when known.
/// An error is InvalidModel naming the node (Node::describe()); the caller adds the file.
Status checkNodeSchemas(const Model& m);

}  // namespace npuconv
