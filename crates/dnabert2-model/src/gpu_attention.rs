//! burn wiring of the fused ALiBi attention kernels ([`crate::flash_kernel`]) for the CubeCL
//! backends: `Wgpu` and `Cuda`, with and without `Autodiff`.
//!
//! burn 0.21's CubeCL `attention` drops to its naive fallback as soon as an additive bias is
//! passed, and `Autodiff::attention` always composes it from matmul and softmax, so without
//! this module every GPU forward and every training step materialises `[B, H, S, S]` scores
//! and bias. Here attention is one launch forward and two backward, with memory linear in S:
//! the forward keeps the context and a `[B, H, S]` log-sum-exp, the backward recomputes the
//! probabilities tile by tile (FlashAttention-2).
//!
//! As in [`crate::cpu_autodiff`], the model stays generic over `B: Backend`: [`attention`]
//! moves the tensor to the concrete backend type when `B` is one of those compiled in
//! (`TypeId` check and `Any` downcast) and hands it back unchanged (`Err`) otherwise.

use std::any::Any;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::{DType, Shape, TensorPrimitive};
use burn_cubecl::kernel::{cast, into_contiguous};
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubecl::prelude::{CubeCount, CubeDim};

use crate::attention::DeviceBias;
use crate::flash_kernel;

/// For each CubeCL backend type `T` compiled in (plain and autodiff): when `B` is `T`,
/// returns `body` from the enclosing function. Falls through when `B` is none of them.
macro_rules! for_cube_backend {
    ($B:ty, |$T:ident| $body:expr) => {{
        #[cfg(feature = "wgpu")]
        {
            {
                type $T = burn::backend::Wgpu;
                if same::<$B, $T>() {
                    return $body;
                }
            }
            {
                type $T = Autodiff<burn::backend::Wgpu>;
                if same::<$B, $T>() {
                    return $body;
                }
            }
        }
        #[cfg(feature = "cuda")]
        {
            {
                type $T = burn::backend::Cuda;
                if same::<$B, $T>() {
                    return $body;
                }
            }
            {
                type $T = Autodiff<burn::backend::Cuda>;
                if same::<$B, $T>() {
                    return $body;
                }
            }
        }
    }};
}

fn same<B: 'static, T: 'static>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<T>()
}

/// Moves a value between two types known to be equal (checked by [`same`]).
fn cast_t<A: 'static, T: 'static>(x: A) -> T {
    let mut slot = Some(x);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<T>>() {
        Some(t) => t.take().expect("filled above"),
        None => unreachable!("same() checked the types"),
    }
}

/// Whether `B` is a CubeCL backend the fused kernels run on.
pub fn applies<B: Backend>() -> bool {
    for_cube_backend!(B, |T| true);
    false
}

/// Whether the activation dtype is one the kernels take (fp32 accumulation inside).
pub fn supports_dtype(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F16 | DType::BF16)
}

/// Fused ALiBi attention from the `Wqkv` output `qkv` `[B, S, 3D]` to the context
/// `[B, S, D]` (with gradients on the autodiff backends), on a CubeCL backend; `Err(qkv)`
/// on any other backend or where no tile fits the device's shared memory.
pub fn attention<B: Backend>(
    qkv: Tensor<B, 3>,
    bias: &DeviceBias<B>,
    heads: usize,
) -> Result<Tensor<B, 3>, Tensor<B, 3>> {
    let [_, _, d3] = qkv.dims();
    if heads == 0 || d3 % (3 * heads) != 0 {
        return Err(qkv);
    }
    for_cube_backend!(B, |T| {
        let out = <T as FusedAttention>::fused(
            cast_t::<Tensor<B, 3>, Tensor<T, 3>>(qkv),
            cast_t::<DeviceBias<B>, DeviceBias<T>>(bias.clone()),
            heads,
        );
        out.map(cast_t::<Tensor<T, 3>, Tensor<B, 3>>)
            .map_err(cast_t::<Tensor<T, 3>, Tensor<B, 3>>)
    });
    Err(qkv)
}

/// The fused op on one concrete backend type.
trait FusedAttention: Backend {
    fn fused(
        qkv: Tensor<Self, 3>,
        bias: DeviceBias<Self>,
        heads: usize,
    ) -> Result<Tensor<Self, 3>, Tensor<Self, 3>>;
}

fn float_primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> B::FloatTensorPrimitive {
    t.into_primitive().tensor()
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> FusedAttention
    for CubeBackend<R, F, I, BT>
{
    fn fused(
        qkv: Tensor<Self, 3>,
        bias: DeviceBias<Self>,
        heads: usize,
    ) -> Result<Tensor<Self, 3>, Tensor<Self, 3>> {
        let Some(launch) = Launch::plan::<R>(qkv.dims(), heads, qkv.dtype(), &qkv.device()) else {
            return Err(qkv);
        };
        let (out, _) = launch.forward(
            float_primitive(qkv),
            float_primitive(bias.key_bias),
            float_primitive(bias.neg_slopes),
        );
        Ok(Tensor::from_primitive(TensorPrimitive::Float(out)))
    }
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement, C: CheckpointStrategy>
    FusedAttention for Autodiff<CubeBackend<R, F, I, BT>, C>
{
    fn fused(
        qkv: Tensor<Self, 3>,
        bias: DeviceBias<Self>,
        heads: usize,
    ) -> Result<Tensor<Self, 3>, Tensor<Self, 3>> {
        let Some(launch) = Launch::plan::<R>(qkv.dims(), heads, qkv.dtype(), &qkv.device()) else {
            return Err(qkv);
        };
        let qkv = float_primitive(qkv);
        let key_bias = float_primitive(bias.key_bias).primitive;
        let neg_slopes = float_primitive(bias.neg_slopes).primitive;
        let out = match FlashBackward
            .prepare::<C>([qkv.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, lse) =
                    launch.forward(qkv.primitive.clone(), key_bias.clone(), neg_slopes.clone());
                let state = FlashState {
                    qkv: qkv.primitive,
                    out: out.clone(),
                    lse,
                    key_bias,
                    neg_slopes,
                    launch,
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(launch.forward(qkv.primitive, key_bias, neg_slopes).0)
            }
        };
        Ok(Tensor::from_primitive(TensorPrimitive::Float(out)))
    }
}

/// Shapes and tile sizes of one attention call.
#[derive(Debug, Clone, Copy)]
struct Launch {
    batch: usize,
    seq: usize,
    heads: usize,
    head_dim: usize,
    /// Rows per cube of the forward, the dQ and the dK/dV kernels.
    tiles: [usize; 3],
}

impl Launch {
    /// Tile sizes for `qkv` `[B, S, 3 * heads * d]` of `dtype` on this device: the largest
    /// power of two (64 down to 4, at most the sequence rounded up) whose shared-memory tiles
    /// fit; `None` if even 4 does not, or if the device has no `dtype` (bf16 on wgpu, f16 on
    /// a Vulkan device without `shaderFloat16`).
    fn plan<R: CubeRuntime>(
        dims: [usize; 3],
        heads: usize,
        dtype: DType,
        device: &R::Device,
    ) -> Option<Self> {
        let [batch, seq, d3] = dims;
        let head_dim = d3 / 3 / heads;
        let client = R::client(device);
        let storage: cubecl::ir::StorageType = dtype.into();
        if !supports_dtype(dtype) || !client.properties().supports_type(storage) {
            log::debug!("fused attention: {dtype:?} not supported on this device");
            return None;
        }
        let hw = &client.properties().hardware;
        let max_units = hw.max_units_per_cube.min(hw.max_cube_dim.0) as usize;
        let max_bytes = hw.max_shared_memory_size;
        // f32 words of shared memory per kernel for tile t (see flash_kernel).
        let words = [
            |t: usize, d: usize| 4 * t * d + t * t + t,
            |t: usize, d: usize| 5 * t * d + t,
            |t: usize, d: usize| 6 * t * d + 2 * t,
        ];
        let cap = seq.next_power_of_two().clamp(4, 64);
        let mut tiles = [0; 3];
        for (tile, words) in tiles.iter_mut().zip(words) {
            *tile = [64, 32, 16, 8, 4]
                .into_iter()
                .find(|&t| t <= cap && t <= max_units && 4 * words(t, head_dim) <= max_bytes)?;
        }
        Some(Self {
            batch,
            seq,
            heads,
            head_dim,
            tiles,
        })
    }

    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }

    fn count(&self, tile: usize) -> CubeCount {
        CubeCount::Static(
            self.seq.div_ceil(tile) as u32,
            self.heads as u32,
            self.batch as u32,
        )
    }

    /// Context `[B, S, H*d]` (dtype of `qkv`) and row log-sum-exp `[B, H, S]` (f32).
    fn forward<R: CubeRuntime>(
        &self,
        qkv: CubeTensor<R>,
        key_bias: CubeTensor<R>,
        neg_slopes: CubeTensor<R>,
    ) -> (CubeTensor<R>, CubeTensor<R>) {
        let qkv = into_contiguous(qkv);
        let key_bias = f32_contiguous(key_bias);
        let neg_slopes = f32_contiguous(neg_slopes);
        let (client, device, dtype) = (qkv.client.clone(), qkv.device.clone(), qkv.dtype);
        let d_model = self.heads * self.head_dim;
        let out = empty_device_dtype::<R>(
            client.clone(),
            device.clone(),
            Shape::new([self.batch, self.seq, d_model]),
            dtype,
        );
        let lse = empty_device_dtype::<R>(
            client.clone(),
            device,
            Shape::new([self.batch, self.heads, self.seq]),
            DType::F32,
        );
        let tile = self.tiles[0];
        // SAFETY: every index is guarded by `< seq` and the tile bounds (flash_kernel).
        unsafe {
            flash_kernel::flash_forward::launch_unchecked::<R>(
                &client,
                self.count(tile),
                CubeDim::new_1d(tile as u32),
                qkv.into_tensor_arg(),
                key_bias.into_tensor_arg(),
                neg_slopes.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                lse.clone().into_tensor_arg(),
                self.seq as u32,
                self.heads as u32,
                self.scale(),
                tile,
                self.head_dim,
                dtype.into(),
            )
        };
        (out, lse)
    }

    /// `d qkv` `[B, S, 3*H*d]` from the forward's state and the context gradient `grad`.
    fn backward<R: CubeRuntime>(&self, st: FlashState<R>, grad: CubeTensor<R>) -> CubeTensor<R> {
        let dtype = st.qkv.dtype;
        let grad = into_contiguous(if grad.dtype == dtype {
            grad
        } else {
            cast(grad, dtype)
        });
        let qkv = into_contiguous(st.qkv);
        let out = into_contiguous(st.out);
        let key_bias = f32_contiguous(st.key_bias);
        let neg_slopes = f32_contiguous(st.neg_slopes);
        let client = qkv.client.clone();
        let dqkv = empty_device_dtype::<R>(
            client.clone(),
            qkv.device.clone(),
            Shape::new([self.batch, self.seq, 3 * self.heads * self.head_dim]),
            dtype,
        );
        let tile = self.tiles[1];
        // SAFETY: every index is guarded by `< seq` and the tile bounds (flash_kernel).
        unsafe {
            flash_kernel::flash_backward_dq::launch_unchecked::<R>(
                &client,
                self.count(tile),
                CubeDim::new_1d(tile as u32),
                qkv.clone().into_tensor_arg(),
                key_bias.clone().into_tensor_arg(),
                neg_slopes.clone().into_tensor_arg(),
                out.clone().into_tensor_arg(),
                grad.clone().into_tensor_arg(),
                st.lse.clone().into_tensor_arg(),
                dqkv.clone().into_tensor_arg(),
                self.seq as u32,
                self.heads as u32,
                self.scale(),
                tile,
                self.head_dim,
                dtype.into(),
            )
        };
        let tile = self.tiles[2];
        // SAFETY: every index is guarded by `< seq` and the tile bounds (flash_kernel).
        unsafe {
            flash_kernel::flash_backward_dkdv::launch_unchecked::<R>(
                &client,
                self.count(tile),
                CubeDim::new_1d(tile as u32),
                qkv.into_tensor_arg(),
                key_bias.into_tensor_arg(),
                neg_slopes.into_tensor_arg(),
                out.into_tensor_arg(),
                grad.into_tensor_arg(),
                st.lse.into_tensor_arg(),
                dqkv.clone().into_tensor_arg(),
                self.seq as u32,
                self.heads as u32,
                self.scale(),
                tile,
                self.head_dim,
                dtype.into(),
            )
        };
        dqkv
    }
}

fn f32_contiguous<R: CubeRuntime>(t: CubeTensor<R>) -> CubeTensor<R> {
    into_contiguous(if t.dtype == DType::F32 {
        t
    } else {
        cast(t, DType::F32)
    })
}

/// What the backward needs: the forward's input and output, the row log-sum-exp, the bias
/// inputs. The output is the tensor the next op also holds (no copy).
#[derive(Debug, Clone)]
struct FlashState<R: CubeRuntime> {
    qkv: CubeTensor<R>,
    out: CubeTensor<R>,
    lse: CubeTensor<R>,
    key_bias: CubeTensor<R>,
    neg_slopes: CubeTensor<R>,
    launch: Launch,
}

#[derive(Debug)]
struct FlashBackward;

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement>
    Backward<CubeBackend<R, F, I, BT>, 1> for FlashBackward
{
    type State = FlashState<R>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<CubeBackend<R, F, I, BT>>(&ops.node);
        let Some(parent) = parent else { return };
        let launch = ops.state.launch;
        let dqkv = launch.backward(ops.state, grad);
        grads.register::<CubeBackend<R, F, I, BT>>(parent.id, dqkv);
    }
}
