/**
 * Writes a boosted ensemble as an ONNX model: `ai.onnx.ml` TreeEnsembleRegressor summing the
 * trees onto the bias (the margin), then the standard Sigmoid (the probability). Input `features`
 * is float32 [N, F]; outputs `margin` and `score` are [N, 1]. onnxruntime-node runs both ops on
 * the CPU.
 */
import type { Ensemble } from './gradient-boosting.js';
import { encodeModel, floatValue, node } from './onnx-graph.js';

export const RISK_INPUT = 'features';
export const RISK_OUTPUT = 'score';

export function ensembleToOnnx(ensemble: Ensemble, metadata: Record<string, string>): Buffer {
  const branch = {
    treeIds: [] as number[],
    nodeIds: [] as number[],
    featureIds: [] as number[],
    modes: [] as string[],
    values: [] as number[],
    trueIds: [] as number[],
    falseIds: [] as number[],
  };
  const target = { treeIds: [] as number[], nodeIds: [] as number[], ids: [] as number[], weights: [] as number[] };
  ensemble.trees.forEach((tree, treeId) => {
    tree.nodes.forEach((treeNode, nodeId) => {
      branch.treeIds.push(treeId);
      branch.nodeIds.push(nodeId);
      if (treeNode.kind === 'split') {
        branch.featureIds.push(treeNode.feature);
        branch.modes.push('BRANCH_LEQ');
        branch.values.push(treeNode.threshold);
        branch.trueIds.push(treeNode.left);
        branch.falseIds.push(treeNode.right);
      } else {
        branch.featureIds.push(0);
        branch.modes.push('LEAF');
        branch.values.push(0);
        branch.trueIds.push(0);
        branch.falseIds.push(0);
        target.treeIds.push(treeId);
        target.nodeIds.push(nodeId);
        target.ids.push(0);
        target.weights.push(treeNode.value);
      }
    });
  });
  return encodeModel({
    graphName: 'border_risk',
    docString: 'Crossing risk: boosted trees (margin) and sigmoid (probability of an irregularity)',
    opsets: { '': 17, 'ai.onnx.ml': 3 },
    metadata,
    inputs: [floatValue(RISK_INPUT, ['vehicles', ensemble.featureCount])],
    outputs: [floatValue('margin', ['vehicles', 1]), floatValue(RISK_OUTPUT, ['vehicles', 1])],
    nodes: [
      node({
        op: 'TreeEnsembleRegressor',
        domain: 'ai.onnx.ml',
        inputs: [RISK_INPUT],
        outputs: ['margin'],
        attributes: {
          n_targets: 1,
          aggregate_function: 'SUM',
          post_transform: 'NONE',
          base_values: { floats: [ensemble.bias] },
          nodes_treeids: { ints: branch.treeIds },
          nodes_nodeids: { ints: branch.nodeIds },
          nodes_featureids: { ints: branch.featureIds },
          nodes_modes: branch.modes,
          nodes_values: { floats: branch.values },
          nodes_truenodeids: { ints: branch.trueIds },
          nodes_falsenodeids: { ints: branch.falseIds },
          target_treeids: { ints: target.treeIds },
          target_nodeids: { ints: target.nodeIds },
          target_ids: { ints: target.ids },
          target_weights: { floats: target.weights },
        },
      }),
      node({ op: 'Sigmoid', inputs: ['margin'], outputs: [RISK_OUTPUT] }),
    ],
  });
}
