//! Backend aliases picked by cargo features, so examples and benches name one type.
//!
//! CPU default: `flex` (burn-flex, burn 0.21's native CPU backend), measured against
//! burn-ndarray on this project's 2-core AVX-512 box (docs/PERFORMANCE.md):
//! - inference of the 117M model: flex with the AVX-512 sgemm this crate enables (`gemm`'s
//!   `x86-v4`) and the CPU attention kernel ([`crate::cpu_attention`], which runs on both
//!   backends) reaches 1.10x upstream PyTorch at 8 x 128 and 3.85x at 1 x 4096; burn-ndarray's
//!   `matrixmultiply` sgemm has no AVX-512 path;
//! - training small models: burn-ndarray is ~15% faster (1,139 vs 991 tokens/s for the
//!   `small` preset), so `cargo xtask pretrain|finetune|gue --backend ndarray` is offered;
//! - flex's exact-GELU backward is exact and it needs no BLAS.
//!
//! `ndarray` stays selectable with `--no-default-features --features ndarray`.
//!
//! Verified to compile here (no GPU, no SDKs): default `flex`, `--no-default-features
//! --features ndarray`, `--features wgpu`, `--features cuda`. `--features tch` cannot build
//! offline: torch-sys's build script downloads libtorch 2.9.0 unless `LIBTORCH` (or
//! `LIBTORCH_USE_PYTORCH=1`) points at a local install. Tests run on the CPU default.

#[cfg(feature = "flex")]
/// The CPU inference backend (burn-flex, f32).
pub type CpuBackend = burn::backend::Flex;
#[cfg(all(feature = "ndarray", not(feature = "flex")))]
/// The CPU inference backend (burn-ndarray, f32).
pub type CpuBackend = burn::backend::NdArray;

#[cfg(any(feature = "flex", feature = "ndarray"))]
/// The CPU backend with autodiff, for training.
pub type CpuAutodiff = burn::backend::Autodiff<CpuBackend>;

#[cfg(feature = "ndarray")]
/// burn-ndarray, f32 (always available with the `ndarray` feature, for comparisons).
pub type NdArrayBackend = burn::backend::NdArray;

#[cfg(feature = "flex")]
/// burn-flex, f32.
pub type FlexBackend = burn::backend::Flex;

#[cfg(feature = "flex")]
/// burn-flex with autodiff.
pub type FlexAutodiff = burn::backend::Autodiff<burn::backend::Flex>;

#[cfg(feature = "ndarray")]
/// burn-ndarray with autodiff.
pub type NdArrayAutodiff = burn::backend::Autodiff<burn::backend::NdArray>;

#[cfg(feature = "wgpu")]
/// Device `i` for wgpu: 0 is wgpu's default adapter (the best one present: a discrete GPU,
/// else an integrated one, else a software rasteriser such as Mesa's lavapipe), `i > 0` the
/// `i`-th discrete GPU.
pub fn wgpu_device(i: usize) -> burn::backend::wgpu::WgpuDevice {
    match i {
        0 => burn::backend::wgpu::WgpuDevice::DefaultDevice,
        i => burn::backend::wgpu::WgpuDevice::DiscreteGpu(i),
    }
}

#[cfg(feature = "cuda")]
/// The `i`-th CUDA GPU.
pub fn cuda_device(i: usize) -> burn::backend::cuda::CudaDevice {
    burn::backend::cuda::CudaDevice::new(i)
}

#[cfg(feature = "tch")]
/// The `i`-th CUDA GPU for libtorch.
pub fn tch_device(i: usize) -> burn::backend::libtorch::LibTorchDevice {
    burn::backend::libtorch::LibTorchDevice::Cuda(i)
}

#[cfg(feature = "wgpu")]
/// The wgpu GPU backend, f32.
pub type Wgpu = burn::backend::Wgpu;
#[cfg(feature = "wgpu")]
/// wgpu with autodiff.
pub type WgpuAutodiff = burn::backend::Autodiff<Wgpu>;

#[cfg(feature = "cuda")]
/// The CUDA backend, f32.
pub type Cuda = burn::backend::Cuda;
#[cfg(feature = "cuda")]
/// CUDA with autodiff.
pub type CudaAutodiff = burn::backend::Autodiff<Cuda>;

#[cfg(feature = "tch")]
/// The libtorch backend, f32.
pub type Tch = burn::backend::LibTorch;
#[cfg(feature = "tch")]
/// libtorch with autodiff.
pub type TchAutodiff = burn::backend::Autodiff<Tch>;

/// Keeps freed memory in the process instead of handing it back to the OS after every
/// step (glibc on Linux; a no-op elsewhere). Binaries call it once at start; a library never
/// changes the allocator on its own.
///
/// A training step allocates and frees the same large activation and gradient buffers each
/// iteration. By default glibc serves large blocks with `mmap` and trims the heap top on
/// `free`, so each step page-faults all of its working set in again (a third of the 117M
/// 8 x 128 MLM step here: 4.8 s -> 3.6 s with this call, docs/PERFORMANCE.md). This sets
/// `M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD` to their maximum, the mallopt equivalent of
/// `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`. The price: the resident set stays at
/// its high-water mark, which the next step would reach again anyway. Returns whether the
/// allocator accepted both settings.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        // SAFETY: mallopt only changes allocator parameters; any value is allowed (glibc
        // rejects out-of-range ones by returning 0).
        unsafe {
            mallopt(M_MMAP_THRESHOLD, std::ffi::c_int::MAX) == 1
                && mallopt(M_TRIM_THRESHOLD, std::ffi::c_int::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
