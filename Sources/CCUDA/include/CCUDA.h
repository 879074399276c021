// Kiln's binding of the CUDA driver API and cuBLAS. The libraries are opened with dlopen on first use, so a
// binary built here runs on a machine without a driver and reports why CUDA is unavailable instead of failing
// to start. Every wrapper returns the library's status code (0 is success); a wrapper whose library or entry
// point could not be loaded returns KILN_STATUS_NOT_LOADED.
#ifndef KILN_CCUDA_H
#define KILN_CCUDA_H

#include <stddef.h>
#include <stdint.h>
#include "KilnKernelABI.h"

/// The status a wrapper returns when its library or entry point is missing.
enum { KILN_STATUS_NOT_LOADED = -1 };

/// Device attributes Kiln reads (their values are the driver API's `CUdevice_attribute` values).
enum KilnDeviceAttribute {
    KILN_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    KILN_ATTRIBUTE_WARP_SIZE = 10,
    KILN_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    KILN_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR = 39,
    KILN_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    KILN_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
};

/// cuBLAS element and compute types (`cudaDataType`, `cublasComputeType_t`) and flags Kiln uses.
enum KilnBlasConstant {
    KILN_BLAS_R_32F = 0, KILN_BLAS_R_64F = 1, KILN_BLAS_R_16F = 2, KILN_BLAS_R_16BF = 14,
    KILN_BLAS_COMPUTE_32F = 68, KILN_BLAS_COMPUTE_32F_FAST_TF32 = 77, KILN_BLAS_COMPUTE_64F = 70,
    KILN_BLAS_OP_N = 0, KILN_BLAS_OP_T = 1,
};

/// 1 when this build was compiled against the CUDA headers (nvidia-cuda-dev), else 0.
int kiln_cuda_built(void);
/// Opens the driver library and calls `cuInit(0)`, once per process. Returns 0, or writes why not into
/// `reason` and returns non-zero.
int kiln_cuda_load(char *reason, size_t length);
/// Opens cuBLAS, once per process. Returns 0, or writes why not into `reason` and returns non-zero.
int kiln_cublas_load(char *reason, size_t length);
/// The file the driver library was opened from (empty before a successful load).
const char *kiln_cuda_library_path(void);
/// The file cuBLAS was opened from (empty before a successful load).
const char *kiln_cublas_library_path(void);
/// The symbolic name of a driver status (`CUDA_ERROR_OUT_OF_MEMORY`).
const char *kiln_cuda_error_name(int status);
/// The driver's description of a status.
const char *kiln_cuda_error_string(int status);
/// The symbolic name of a cuBLAS status (`CUBLAS_STATUS_NOT_SUPPORTED`).
const char *kiln_cublas_status_name(int status);
/// The description of a cuBLAS status.
const char *kiln_cublas_status_string(int status);

int kiln_cuDriverGetVersion(int *version);
int kiln_cuDeviceGetCount(int *count);
int kiln_cuDeviceGet(int *device, int ordinal);
int kiln_cuDeviceGetName(char *name, int length, int device);
int kiln_cuDeviceGetAttribute(int *value, int attribute, int device);
int kiln_cuDeviceTotalMem(size_t *bytes, int device);
int kiln_cuDevicePrimaryCtxRetain(void **context, int device);
int kiln_cuCtxSetCurrent(void *context);
/// A stream that does not synchronize with the legacy default stream.
int kiln_cuStreamCreate(void **stream);
int kiln_cuStreamSynchronize(void *stream);
int kiln_cuMemAlloc(uint64_t *pointer, size_t bytes);
int kiln_cuMemFree(uint64_t pointer);
int kiln_cuMemGetInfo(size_t *free, size_t *total);
int kiln_cuMemAllocHost(void **pointer, size_t bytes);
int kiln_cuMemFreeHost(void *pointer);
int kiln_cuMemcpyHtoDAsync(uint64_t destination, const void *source, size_t bytes, void *stream);
int kiln_cuMemcpyDtoHAsync(void *destination, uint64_t source, size_t bytes, void *stream);
int kiln_cuMemsetD8Async(uint64_t destination, unsigned char value, size_t bytes, void *stream);
int kiln_cuEventCreate(void **event);
int kiln_cuEventRecord(void *event, void *stream);
int kiln_cuEventSynchronize(void *event);
/// Loads a PTX or cubin image; on failure the JIT's log is written into `log`.
int kiln_cuModuleLoadData(void **module, const void *image, char *log, size_t logLength);
int kiln_cuModuleGetFunction(void **function, void *module, const char *name);
/// Launches `function` with `parameters`, one pointer to each of its parameters in order.
int kiln_cuLaunchKernel(void *function, unsigned gridX, unsigned gridY, unsigned blockX, unsigned sharedBytes,
                        void *stream, void **parameters);

int kiln_cublasCreate(void **handle);
int kiln_cublasSetStream(void *handle, void *stream);
int kiln_cublasSetWorkspace(void *handle, uint64_t workspace, size_t bytes);
/// `cublasGemmStridedBatchedEx` in column-major terms; `alpha` and `beta` point at values of the compute type.
int kiln_cublasGemmStridedBatchedEx(void *handle, int transA, int transB, int m, int n, int k, const void *alpha,
                                    uint64_t a, int aType, int lda, long long strideA,
                                    uint64_t b, int bType, int ldb, long long strideB, const void *beta,
                                    uint64_t c, int cType, int ldc, long long strideC, int batchCount,
                                    int computeType);

/// The number of kernel modules embedded from Kernels/*.cu (KernelsPTX.c, generated by CMakeLists.txt).
int kiln_kernel_module_count(void);
/// The PTX of module `index`.
const char *kiln_kernel_module(int index);
/// The name of module `index` (its .cu file's base name).
const char *kiln_kernel_module_name(int index);

#endif
