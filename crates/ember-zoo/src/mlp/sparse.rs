//! LeNet-300-100 on Ember's sparse CPU kernels (`ember eval --engine sparse`).

use std::collections::BTreeMap;

use ember_data::{ImageItem, normalize_pixel};
use ember_kernels::{NamedTensor, SparseMatrix};
use ember_models::Mlp;
use ember_train::TrainError;

/// The sparse form of a burn `Linear` weight (`[inputs, outputs]`): N:M when its mask is,
/// CSR otherwise. The kernels take PyTorch's `[out, in]` layout, so the weight is transposed
/// on the way.
pub(crate) fn linear_weight(
    weight: &NamedTensor,
    inputs: usize,
    outputs: usize,
) -> Result<SparseMatrix, ember_kernels::KernelError> {
    let mut transposed = vec![0.0f32; weight.values.len()];
    for r in 0..inputs {
        for c in 0..outputs {
            transposed[c * inputs + r] = weight.values[r * outputs + c];
        }
    }
    SparseMatrix::from_dense(&transposed, outputs, inputs)
}

/// A LeNet-300-100-style multilayer perceptron on the sparse kernels: every `layers.<i>`
/// linear layer as a [`SparseMatrix`] (N:M when its mask is, CSR otherwise), ReLU between
/// layers, as `ember_models::Mlp` computes.
#[derive(Debug, Clone)]
pub struct SparseMlp {
    layers: Vec<(SparseMatrix, Vec<f32>)>,
}

impl SparseMlp {
    /// The MLP `model` (a finished run's, read with `load_run`) on the sparse kernels: each of
    /// its `layers`, read from the module itself.
    pub fn from_model(model: &Mlp) -> Result<Self, TrainError> {
        let mut tensors = Vec::new();
        for (i, layer) in model.layers.iter().enumerate() {
            let data = layer.weight.val().into_data();
            tensors.push(NamedTensor {
                name: format!("layers.{i}.weight"),
                shape: data.shape().to_vec(),
                values: data.iter::<f32>().collect(),
            });
            if let Some(bias) = &layer.bias {
                let data = bias.val().into_data();
                tensors.push(NamedTensor {
                    name: format!("layers.{i}.bias"),
                    shape: data.shape().to_vec(),
                    values: data.iter::<f32>().collect(),
                });
            }
        }
        Self::from_tensors(&tensors)
    }

    /// The layers `layers.0`, `layers.1`, … of `tensors` (burn's `[in, out]` weights and
    /// `[out]` biases).
    pub(crate) fn from_tensors(tensors: &[NamedTensor]) -> Result<Self, TrainError> {
        let by_name: BTreeMap<&str, &NamedTensor> =
            tensors.iter().map(|t| (t.name.as_str(), t)).collect();
        let invalid = |message: String| TrainError::Invalid {
            field: "model".into(),
            value: "mlp".into(),
            message,
        };
        let mut layers = Vec::new();
        while let Some(weight) = by_name.get(format!("layers.{}.weight", layers.len()).as_str()) {
            let i = layers.len();
            let [inputs, outputs] = weight.shape[..] else {
                return Err(invalid(format!("layers.{i}.weight is not a matrix")));
            };
            let matrix = linear_weight(weight, inputs, outputs)
                .map_err(|e| invalid(format!("layers.{i}.weight: {e}")))?;
            let bias = match by_name.get(format!("layers.{i}.bias").as_str()) {
                Some(b) if b.values.len() == outputs => b.values.clone(),
                Some(_) => return Err(invalid(format!("layers.{i}.bias has the wrong size"))),
                None => vec![0.0; outputs],
            };
            if let Some((previous, _)) = layers.last() {
                let previous: &SparseMatrix = previous;
                if previous.rows() != inputs {
                    return Err(invalid(format!(
                        "layers.{i} takes {inputs} inputs, layers.{} gives {}",
                        i - 1,
                        previous.rows()
                    )));
                }
            }
            layers.push((matrix, bias));
        }
        if layers.is_empty() {
            return Err(invalid("the checkpoint has no `layers.0.weight`".into()));
        }
        Ok(Self { layers })
    }

    /// Inputs per example.
    pub fn inputs(&self) -> usize {
        self.layers[0].0.cols()
    }

    /// Each layer's format (`csr`, `2:4`, …), in order.
    pub fn formats(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|(matrix, _)| matrix.format())
            .collect()
    }

    /// The logits of `batch` examples `x` (`[batch, inputs]`).
    pub fn forward(&self, x: &[f32], batch: usize) -> Result<Vec<f32>, TrainError> {
        let mut h = x.to_vec();
        for (i, (matrix, bias)) in self.layers.iter().enumerate() {
            h = matrix.matmul(&h, batch).map_err(|e| TrainError::Invalid {
                field: "input".into(),
                value: format!("{} values", h.len()),
                message: e.to_string(),
            })?;
            let last = i + 1 == self.layers.len();
            for row in h.chunks_mut(matrix.rows()) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                    if !last {
                        *v = v.max(0.0);
                    }
                }
            }
        }
        Ok(h)
    }

    /// Top-1 accuracy in percent over `items`, in batches of `batch_size`.
    pub fn accuracy(&self, items: &[ImageItem], batch_size: usize) -> Result<f64, TrainError> {
        let mut correct = 0usize;
        for chunk in items.chunks(batch_size.max(1)) {
            let x: Vec<f32> = chunk
                .iter()
                .flat_map(|item| item.pixels.iter().map(|p| normalize_pixel(*p)))
                .collect();
            let logits = self.forward(&x, chunk.len())?;
            let classes = logits.len() / chunk.len();
            for (item, row) in chunk.iter().zip(logits.chunks(classes)) {
                let predicted = row
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (c, v)| {
                        if *v > best.1 { (c, *v) } else { best }
                    })
                    .0;
                correct += usize::from(predicted == item.label as usize);
            }
        }
        Ok(if items.is_empty() {
            0.0
        } else {
            100.0 * correct as f64 / items.len() as f64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::tensor::{Device, Distribution, Tensor};
    use ember_models::{ImageClassifier, MlpConfig};
    use ember_train::checkpoint_tensors;

    /// An MLP with about 90% of its weights set to exact zeros.
    fn pruned_mlp(device: &Device) -> Mlp {
        device.seed(11);
        let mlp = MlpConfig::new().init(device);
        mlp.map(&mut Pruning)
    }

    struct Pruning;
    impl burn::module::ModuleMapper for Pruning {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let keep = tensor
                .random_like(Distribution::Uniform(0.0, 1.0))
                .lower_elem(0.1);
            let pruned = if D == 2 {
                tensor.clone().mask_fill(keep.bool_not(), 0.0)
            } else {
                tensor
            };
            burn::module::Param::from_mapped_value(id, pruned, mapper)
        }
    }

    #[test]
    fn the_sparse_mlp_computes_the_dense_logits() {
        // Under the lock on burn's process-wide generator: other tests draw from it too.
        ember_train::with_host_rng(|| {
            let device = Device::flex();
            let mlp = pruned_mlp(&device);
            let dir = tempfile::tempdir().unwrap();
            // The checkpoint layout of a run: the model under `model.`.
            #[derive(Module, Debug)]
            struct Wrapper {
                model: Mlp,
            }
            let path = dir.path().join("model.bpk");
            Wrapper { model: mlp.clone() }.save_file(&path).unwrap();
            ember_train::files::seal(&path).unwrap();
            let tensors = checkpoint_tensors(&path).unwrap();
            let zeros: usize = tensors
                .iter()
                .filter(|t| t.shape.len() == 2)
                .map(|t| t.values.iter().filter(|v| **v == 0.0).count())
                .sum();
            assert!(zeros > 200_000, "{zeros}: the weights are mostly pruned");
            let sparse = SparseMlp::from_tensors(&tensors).unwrap();
            // Read from the module itself, the same engine.
            let from_model = SparseMlp::from_model(&mlp).unwrap();
            assert_eq!(from_model.formats(), sparse.formats());
            for batch in [1, 7, 64] {
                let x = Tensor::<2>::random([batch, 784], Distribution::Normal(0.0, 1.0), &device);
                let images = x.clone().reshape([batch, 1, 28, 28]);
                let want: Vec<f32> = mlp.logits(images).into_data().try_to_vec().unwrap();
                let x: Vec<f32> = x.into_data().try_to_vec::<f32>().unwrap();
                let got = sparse.forward(&x, batch).unwrap();
                assert_eq!(from_model.forward(&x, batch).unwrap(), got);
                assert_eq!(got.len(), want.len());
                let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-5 * scale, "{g} vs {w}");
                }
            }
        })
    }

    #[test]
    fn layers_with_a_2_4_mask_run_in_the_2_4_format() {
        // Under the lock on burn's process-wide generator: other tests draw from it too.
        ember_train::with_host_rng(|| {
            let device = Device::flex();
            device.seed(5);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("model.bpk");
            #[derive(Module, Debug)]
            struct Wrapper {
                model: Mlp,
            }
            Wrapper {
                model: MlpConfig::new().init(&device),
            }
            .save_file(&path)
            .unwrap();
            ember_train::files::seal(&path).unwrap();
            let mut tensors = checkpoint_tensors(&path).unwrap();
            // 2:4 over the inputs of every output: burn's weights are `[in, out]`, so a group is
            // four rows of one column. Keep the two largest magnitudes.
            for t in tensors.iter_mut().filter(|t| t.shape.len() == 2) {
                let [inputs, outputs] = t.shape[..] else {
                    unreachable!()
                };
                for o in 0..outputs {
                    for first in (0..inputs).step_by(4) {
                        let mut group: Vec<usize> =
                            (first..first + 4).map(|i| i * outputs + o).collect();
                        group.sort_by(|a, b| t.values[*b].abs().total_cmp(&t.values[*a].abs()));
                        for i in &group[2..] {
                            t.values[*i] = 0.0;
                        }
                    }
                }
            }
            let sparse = SparseMlp::from_tensors(&tensors).unwrap();
            assert_eq!(sparse.formats(), ["2:4", "2:4", "2:4"]);
            // The dense forward pass on the host, from the same tensors.
            let layer = |i: usize| {
                let find = |name: String| tensors.iter().find(|t| t.name == name).unwrap();
                (
                    find(format!("layers.{i}.weight")),
                    find(format!("layers.{i}.bias")),
                )
            };
            // 40 examples: a full block of 32 and a partial one.
            let batch = 40;
            let x: Vec<f32> = (0..batch * 784)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let mut h = x.clone();
            for i in 0..3 {
                let (w, b) = layer(i);
                let [inputs, outputs] = w.shape[..] else {
                    unreachable!()
                };
                let mut next = vec![0.0f32; batch * outputs];
                for e in 0..batch {
                    for o in 0..outputs {
                        let sum: f64 = (0..inputs)
                            .map(|k| {
                                f64::from(h[e * inputs + k]) * f64::from(w.values[k * outputs + o])
                            })
                            .sum();
                        let v = sum as f32 + b.values[o];
                        next[e * outputs + o] = if i < 2 { v.max(0.0) } else { v };
                    }
                }
                h = next;
            }
            let got = sparse.forward(&x, batch).unwrap();
            assert_eq!(got.len(), batch * 10);
            let scale = h.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&h) {
                assert!((g - w).abs() <= 1e-5 * scale, "{g} vs {w}");
            }
        })
    }

    #[test]
    fn a_checkpoint_without_mlp_layers_is_an_error() {
        let err = SparseMlp::from_tensors(&[]).unwrap_err();
        assert!(err.to_string().contains("layers.0.weight"), "{err}");
    }
}
