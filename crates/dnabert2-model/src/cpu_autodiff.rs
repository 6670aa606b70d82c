//! The CPU kernels as custom autodiff ops, so training on `Autodiff<Flex>` and
//! `Autodiff<NdArray>` uses them too.
//!
//! burn's `Autodiff` backend builds attention from composed ops (a `[B, H, S, S]` bias, scores,
//! softmax and their saved intermediates) and exact GELU from several elementwise passes.
//! Here each is one node of the graph with a hand-written backward:
//!
//! - [`attention`]: forward by [`cpu_attention::alibi_attention_with_lse`], backward by
//!   [`cpu_attention::alibi_attention_backward`] (probabilities recomputed from the saved
//!   log-sum-exp; the saved state is `qkv`, the context and `[B, H, S]` floats);
//! - [`geglu`]: `gelu(a) * u` over `g = [a | u]` in one pass each way.
//!
//! The model is generic over `B: Backend`; these ops exist for two concrete types. Each entry
//! point takes the generic tensor, moves it to the concrete type when `B` is one of them
//! (`for_cpu_autodiff!`, a `TypeId` check and an `Any` downcast) and returns `Err(tensor)`
//! unchanged otherwise (the caller then runs burn's ops), so no trait bound leaks into the
//! model's signatures.

use std::any::Any;
use std::sync::Arc;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::ops::FloatTensor;

use crate::cpu_attention::{self, Dims};
use crate::mlp::{geglu_backward_host, geglu_host};

/// For each autodiff CPU backend `T` compiled in: when `B` is `T`, returns `body` (evaluated
/// with the alias `T` in scope) from the enclosing function, wrapped as the function's
/// success value. Falls through when `B` is none of them.
macro_rules! for_cpu_autodiff {
    ($B:ty, |$T:ident| $body:expr) => {{
        #[cfg(feature = "flex")]
        {
            type $T = Autodiff<burn::backend::Flex>;
            if applies_to::<$B, $T>() {
                return $body.into();
            }
        }
        #[cfg(feature = "ndarray")]
        {
            type $T = Autodiff<burn::backend::NdArray>;
            if applies_to::<$B, $T>() {
                return $body.into();
            }
        }
    }};
}
/// Whether `B` is an autodiff CPU backend these ops run on.
pub fn applies<B: Backend>() -> bool {
    for_cpu_autodiff!(B, |T| true);
    false
}

fn applies_to<B: Backend, T: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<T>()
}

/// Moves a tensor between two backend types known to be equal (checked by [`applies_to`]).
fn cast_t<B: Backend, T: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<T, D> {
    let mut slot = Some(x);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<Tensor<T, D>>>() {
        Some(t) => t.take().expect("filled above"),
        None => unreachable!("applies_to checked the types"),
    }
}

/// Fused ALiBi attention from the `Wqkv` output `qkv` `[B, S, 3D]` to the context `[B, S, D]`
/// with gradients, on an autodiff CPU backend; `Err(qkv)` on any other backend.
/// `key_bias` `[B * S]` and `neg_slopes` `[H]` as in [`crate::attention::AttentionBias`].
pub fn attention<B: Backend>(
    qkv: Tensor<B, 3>,
    key_bias: &Arc<Vec<f32>>,
    neg_slopes: &Arc<Vec<f32>>,
    heads: usize,
) -> Result<Tensor<B, 3>, Tensor<B, 3>> {
    for_cpu_autodiff!(B, |T| Ok(cast_t::<T, B, 3>(attention_ad(
        cast_t::<B, T, 3>(qkv),
        key_bias.clone(),
        neg_slopes.clone(),
        heads,
    ))));
    Err(qkv)
}

/// `LayerNorm(x) = (x - mean) / sqrt(var + eps) * gamma + beta` over the last axis of `x`
/// `[B, S, D]`, with gradients for `x`, `gamma` and `beta`, on an autodiff CPU backend;
/// `Err(x)` on any other backend. Saves the normalised input and one `1 / std` per row
/// (burn's composed layer norm keeps two `[B, S, D]` intermediates and runs ~10 passes).
pub fn layer_norm<B: Backend>(
    x: Tensor<B, 3>,
    ln: &burn::nn::LayerNorm<B>,
) -> Result<Tensor<B, 3>, Tensor<B, 3>> {
    if !applies::<B>() {
        return Err(x);
    }
    let (Some(beta), Some(eps)) = (&ln.beta, layer_norm_eps(ln)) else {
        return Err(x);
    };
    let (gamma, beta) = (ln.gamma.val(), beta.val());
    for_cpu_autodiff!(B, |T| Ok(cast_t::<T, B, 3>(layer_norm_ad(
        cast_t::<B, T, 3>(x),
        cast_t::<B, T, 1>(gamma),
        cast_t::<B, T, 1>(beta),
        eps,
    ))));
    Err(x)
}

/// `ln(x)` through [`layer_norm`] where it applies, burn's `LayerNorm::forward` elsewhere.
pub fn norm<B: Backend>(ln: &burn::nn::LayerNorm<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    layer_norm(x, ln).unwrap_or_else(|x| ln.forward(x))
}

/// The epsilon of a burn `LayerNorm` (a private field; its `Display` shows it, e.g.
/// `LayerNorm {d_model: 768, epsilon: 1e-12, bias: true, params: 1536}`).
fn layer_norm_eps<B: Backend>(ln: &burn::nn::LayerNorm<B>) -> Option<f64> {
    let text = ln.to_string();
    let rest = text.split("epsilon: ").nth(1)?;
    let end = rest.find([',', '}', ' ']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// `gelu(g[..., :I]) * g[..., I:]` with gradients, on an autodiff CPU backend; `Err(g)` on
/// any other backend.
pub fn geglu<B: Backend>(g: Tensor<B, 3>) -> Result<Tensor<B, 3>, Tensor<B, 3>> {
    for_cpu_autodiff!(B, |T| Ok(cast_t::<T, B, 3>(geglu_ad(cast_t::<B, T, 3>(g)))));
    Err(g)
}

fn host<B: Backend>(t: FloatTensor<B>) -> Vec<f32> {
    cpu_attention::host_f32(Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(t)))
}

fn device_tensor<B: Backend>(v: Vec<f32>, shape: [usize; 3], device: &B::Device) -> FloatTensor<B> {
    Tensor::<B, 3>::from_data(TensorData::new(v, shape), device)
        .into_primitive()
        .tensor()
}

/// What the attention backward needs: the forward's input, output and row log-sum-exp.
/// The output is kept as the backend tensor the next layer also holds (no second copy).
#[derive(Debug, Clone)]
struct AttentionState<B: Backend> {
    qkv: Arc<Vec<f32>>,
    out: FloatTensor<B>,
    lse: Arc<Vec<f32>>,
    key_bias: Arc<Vec<f32>>,
    neg_slopes: Arc<Vec<f32>>,
    dims: Dims,
}

#[derive(Debug)]
struct AttentionBackward;

impl<B: Backend> Backward<B, 1> for AttentionBackward {
    type State = AttentionState<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else { return };
        let device = B::float_device(&grad);
        let st = ops.state;
        let d_qkv = cpu_attention::alibi_attention_backward(
            &st.qkv,
            &st.key_bias,
            &st.neg_slopes,
            st.dims,
            &host::<B>(st.out),
            &st.lse,
            &host::<B>(grad),
        );
        let Dims {
            batch,
            seq,
            heads,
            head_dim,
        } = st.dims;
        let shape = [batch, seq, 3 * heads * head_dim];
        grads.register::<B>(parent.id, device_tensor::<B>(d_qkv, shape, &device));
    }
}

fn attention_ad<B: Backend, C: CheckpointStrategy>(
    qkv: Tensor<Autodiff<B, C>, 3>,
    key_bias: Arc<Vec<f32>>,
    neg_slopes: Arc<Vec<f32>>,
    heads: usize,
) -> Tensor<Autodiff<B, C>, 3> {
    let [batch, seq, d3] = qkv.dims();
    let dims = Dims {
        batch,
        seq,
        heads,
        head_dim: d3 / 3 / heads,
    };
    let qkv = qkv.into_primitive().tensor();
    let device = B::float_device(&qkv.primitive);
    let host_qkv = host::<B>(qkv.primitive.clone());
    let (out, lse) =
        cpu_attention::alibi_attention_with_lse(&host_qkv, &key_bias, &neg_slopes, dims);
    let shape = [batch, seq, d3 / 3];
    let out_t = match AttentionBackward
        .prepare::<C>([qkv.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let out_t = device_tensor::<B>(out, shape, &device);
            let state = AttentionState {
                qkv: Arc::new(host_qkv),
                out: out_t.clone(),
                lse: Arc::new(lse),
                key_bias,
                neg_slopes,
                dims,
            };
            prep.finish(state, out_t)
        }
        OpsKind::UnTracked(prep) => prep.finish(device_tensor::<B>(out, shape, &device)),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out_t))
}

/// The GEGLU input `g` `[B, S, 2I]` (the backward recomputes everything else from it).
#[derive(Debug, Clone)]
struct GegluState {
    g: Arc<Vec<f32>>,
    shape: [usize; 3],
}

#[derive(Debug)]
struct GegluBackward;

impl<B: Backend> Backward<B, 1> for GegluBackward {
    type State = GegluState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let Some(parent) = parent else { return };
        let device = B::float_device(&grad);
        let st = ops.state;
        let dg = geglu_backward_host(&st.g, &host::<B>(grad), st.shape[2] / 2);
        grads.register::<B>(parent.id, device_tensor::<B>(dg, st.shape, &device));
    }
}

fn geglu_ad<B: Backend, C: CheckpointStrategy>(
    g: Tensor<Autodiff<B, C>, 3>,
) -> Tensor<Autodiff<B, C>, 3> {
    let shape = g.dims();
    let g = g.into_primitive().tensor();
    let device = B::float_device(&g.primitive);
    let host_g = host::<B>(g.primitive.clone());
    let y = geglu_host(&host_g, shape[2] / 2);
    let out_shape = [shape[0], shape[1], shape[2] / 2];
    let y = device_tensor::<B>(y, out_shape, &device);
    let out = match GegluBackward
        .prepare::<C>([g.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            GegluState {
                g: Arc::new(host_g),
                shape,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::{alibi_slopes, attention_bias};
    use burn::tensor::Distribution;
    use burn::tensor::activation::softmax;

    /// burn's composed attention (explicit bias, softmax) on the same `qkv`.
    fn composed<B: Backend>(qkv: Tensor<B, 3>, mask: Tensor<B, 2, Int>, h: usize) -> Tensor<B, 3> {
        let [b, s, d3] = qkv.dims();
        let d = d3 / 3 / h;
        let bias = attention_bias(mask, h);
        let parts: Vec<_> = qkv
            .chunk(3, 2)
            .into_iter()
            .map(|t| t.reshape([b, s, h, d]).swap_dims(1, 2))
            .collect();
        let scores =
            parts[0].clone().matmul(parts[1].clone().swap_dims(2, 3)) / (d as f64).sqrt() + bias;
        softmax(scores, 3)
            .matmul(parts[2].clone())
            .swap_dims(1, 2)
            .reshape([b, s, h * d])
    }

    fn max_abs<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
        let v = cpu_attention::host_f32((a - b).abs().max());
        v[0]
    }

    fn fused_matches_composed<Bi: Backend>() {
        type AD<Bi> = Autodiff<Bi>;
        assert!(applies::<AD<Bi>>());
        let device = Default::default();
        let (b, s, h, d) = (2, 70, 3, 8);
        let qkv =
            Tensor::<AD<Bi>, 3>::random([b, s, 3 * h * d], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
        let mut keep = vec![1i64; b * s];
        keep[s + 50..].iter_mut().for_each(|k| *k = 0);
        let mask =
            Tensor::<AD<Bi>, 2, Int>::from_data(TensorData::new(keep.clone(), [b, s]), &device);
        let key_bias: Vec<f32> = keep
            .iter()
            .map(|&k| if k == 1 { 0.0 } else { -10000.0 })
            .collect();
        let slopes: Vec<f32> = alibi_slopes(h).iter().map(|&v| -(v as f32)).collect();
        let w = Tensor::<AD<Bi>, 3>::random([b, s, h * d], Distribution::Normal(0.0, 1.0), &device);

        let fused = attention(qkv.clone(), &Arc::new(key_bias), &Arc::new(slopes), h)
            .unwrap_or_else(|_| panic!("the fused op applies to this backend"));
        let reference = composed(qkv.clone(), mask, h);
        assert!(max_abs(fused.clone().inner(), reference.clone().inner()) < 1e-5);
        let g_fused = (fused * w.clone()).sum().backward();
        let g_ref = (reference * w).sum().backward();
        let (a, r) = (qkv.grad(&g_fused).unwrap(), qkv.grad(&g_ref).unwrap());
        let err = max_abs(a, r.clone());
        let scale = cpu_attention::host_f32(r.abs().max())[0];
        assert!(scale > 0.1, "the reference gradient is not trivial");
        // Relative to the largest gradient: the two sum in different orders.
        assert!(
            err / scale < 2e-6,
            "d_qkv max abs err {err} (max |grad| {scale})"
        );

        // GEGLU against the composed exact GELU.
        let g =
            Tensor::<AD<Bi>, 3>::random([b, s, 2 * 16], Distribution::Normal(0.0, 2.0), &device)
                .require_grad();
        let fused = geglu(g.clone()).unwrap_or_else(|_| panic!("the fused op applies"));
        let halves = g.clone().chunk(2, 2);
        let reference = crate::mlp::gelu_exact(halves[0].clone()) * halves[1].clone();
        assert!(max_abs(fused.clone().inner(), reference.clone().inner()) < 1e-5);
        let w = Tensor::<AD<Bi>, 3>::random([b, s, 16], Distribution::Normal(0.0, 1.0), &device);
        let gf = (fused * w.clone()).sum().backward();
        let gr = (reference * w).sum().backward();
        let err = max_abs(g.grad(&gf).unwrap(), g.grad(&gr).unwrap());
        assert!(err < 1e-5, "GEGLU d_g max abs err {err}");
    }

    #[cfg(feature = "flex")]
    #[test]
    fn fused_ops_match_burn_composed_ops_on_flex() {
        fused_matches_composed::<burn::backend::Flex>();
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn fused_ops_match_burn_composed_ops_on_ndarray() {
        fused_matches_composed::<burn::backend::NdArray>();
    }

    #[test]
    fn other_backends_are_handed_back() {
        #[cfg(feature = "flex")]
        {
            let device = Default::default();
            let x = Tensor::<burn::backend::Flex, 3>::zeros([1, 2, 6], &device);
            assert!(!applies::<burn::backend::Flex>());
            assert!(geglu(x).is_err());
        }
    }
}

/// What the layer-norm backward needs: the normalised input, `1 / std` per row, `gamma`.
#[derive(Debug, Clone)]
struct LayerNormState {
    x_hat: Arc<Vec<f32>>,
    rstd: Arc<Vec<f32>>,
    gamma: Arc<Vec<f32>>,
    shape: [usize; 3],
}

#[derive(Debug)]
struct LayerNormBackward;

impl<B: Backend> Backward<B, 3> for LayerNormBackward {
    type State = LayerNormState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pg, pb] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let device = B::float_device(&grad);
        let st = ops.state;
        let dy = host::<B>(grad);
        let (dx, dgamma, dbeta) = crate::layer_norm::backward(&st.x_hat, &st.rstd, &st.gamma, &dy);
        let d = st.shape[2];
        let vec1 = |v: Vec<f32>| {
            Tensor::<B, 1>::from_data(TensorData::new(v, [d]), &device)
                .into_primitive()
                .tensor()
        };
        if let Some(p) = px {
            grads.register::<B>(p.id, device_tensor::<B>(dx, st.shape, &device));
        }
        if let Some(p) = pg {
            grads.register::<B>(p.id, vec1(dgamma));
        }
        if let Some(p) = pb {
            grads.register::<B>(p.id, vec1(dbeta));
        }
    }
}

fn layer_norm_ad<B: Backend, C: CheckpointStrategy>(
    x: Tensor<Autodiff<B, C>, 3>,
    gamma: Tensor<Autodiff<B, C>, 1>,
    beta: Tensor<Autodiff<B, C>, 1>,
    eps: f64,
) -> Tensor<Autodiff<B, C>, 3> {
    let shape = x.dims();
    let (x, gamma, beta) = (
        x.into_primitive().tensor(),
        gamma.into_primitive().tensor(),
        beta.into_primitive().tensor(),
    );
    let device = B::float_device(&x.primitive);
    let host1 = |t: FloatTensor<B>| {
        cpu_attention::host_f32(Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(t)))
    };
    let g = host1(gamma.primitive.clone());
    let b = host1(beta.primitive.clone());
    let (y, x_hat, rstd) =
        crate::layer_norm::forward(&host::<B>(x.primitive.clone()), &g, &b, eps as f32);
    let y = device_tensor::<B>(y, shape, &device);
    let nodes = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
    let out = match LayerNormBackward
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            LayerNormState {
                x_hat: Arc::new(x_hat),
                rstd: Arc::new(rstd),
                gamma: Arc::new(g),
                shape,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[cfg(test)]
mod layer_norm_tests {
    use super::*;
    use burn::nn::LayerNormConfig;
    use burn::tensor::Distribution;

    #[test]
    fn epsilon_is_read_back() {
        let device = Default::default();
        for eps in [1e-12, 1e-5, 0.25] {
            let ln = LayerNormConfig::new(8)
                .with_epsilon(eps)
                .init::<burn::backend::Flex>(&device);
            assert_eq!(layer_norm_eps(&ln), Some(eps));
        }
    }

    fn fused_matches_burn<Bi: Backend>() {
        type AD<Bi> = Autodiff<Bi>;
        let device = Default::default();
        let mut ln = LayerNormConfig::new(48)
            .with_epsilon(1e-12)
            .init::<AD<Bi>>(&device);
        ln.gamma = burn::module::Param::from_tensor(Tensor::random(
            [48],
            Distribution::Normal(1.0, 0.3),
            &device,
        ));
        ln.beta = Some(burn::module::Param::from_tensor(Tensor::random(
            [48],
            Distribution::Normal(0.0, 0.3),
            &device,
        )));
        let x = Tensor::<AD<Bi>, 3>::random([3, 17, 48], Distribution::Normal(0.5, 2.0), &device)
            .require_grad();
        let w = Tensor::<AD<Bi>, 3>::random([3, 17, 48], Distribution::Normal(0.0, 1.0), &device);
        let fused = layer_norm(x.clone(), &ln).unwrap_or_else(|_| panic!("applies"));
        let reference = ln.forward(x.clone());
        let err =
            |a: Tensor<Bi, 3>, b: Tensor<Bi, 3>| cpu_attention::host_f32((a - b).abs().max())[0];
        assert!(err(fused.clone().inner(), reference.clone().inner()) < 1e-5);
        let gf = (fused * w.clone()).sum().backward();
        let gr = (reference * w).sum().backward();
        let e = err(x.grad(&gf).unwrap(), x.grad(&gr).unwrap());
        assert!(e < 1e-4, "dx max abs err {e}");
        let e1 =
            |a: Tensor<Bi, 1>, b: Tensor<Bi, 1>| cpu_attention::host_f32((a - b).abs().max())[0];
        let eg = e1(
            ln.gamma.val().grad(&gf).unwrap(),
            ln.gamma.val().grad(&gr).unwrap(),
        );
        let beta = ln.beta.as_ref().map(|b| b.val()).expect("beta");
        let eb = e1(beta.grad(&gf).unwrap(), beta.grad(&gr).unwrap());
        assert!(eg < 1e-4 && eb < 1e-4, "dgamma {eg}, dbeta {eb}");
    }

    #[cfg(feature = "flex")]
    #[test]
    fn fused_layer_norm_matches_burn_on_flex() {
        fused_matches_burn::<burn::backend::Flex>();
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn fused_layer_norm_matches_burn_on_ndarray() {
        fused_matches_burn::<burn::backend::NdArray>();
    }
}
