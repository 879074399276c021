// Run-time binding of the CUDA driver and cuBLAS (see include/CCUDA.h).
//
// With the CUDA headers installed (Debian's nvidia-cuda-dev) the entry points are typed by cuda.h and
// cublas_v2.h and the load functions open the libraries. Without them the same code compiles against minimal
// stand-in types and the load functions report that CUDA support was not built.
#define _GNU_SOURCE
#include "CCUDA.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<cuda.h>) && __has_include(<cublas_v2.h>) && !defined(KILN_CUDA_DISABLE)
#define KILN_HAVE_CUDA 1
#include <cuda.h>
#include <cublas_v2.h>
_Static_assert((int)KILN_ATTRIBUTE_MAX_THREADS_PER_BLOCK == (int)CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "attribute");
_Static_assert((int)KILN_ATTRIBUTE_WARP_SIZE == (int)CU_DEVICE_ATTRIBUTE_WARP_SIZE, "attribute");
_Static_assert((int)KILN_ATTRIBUTE_MULTIPROCESSOR_COUNT == (int)CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "attribute");
_Static_assert((int)KILN_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR == (int)CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR, "attribute");
_Static_assert((int)KILN_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR == (int)CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "attribute");
_Static_assert((int)KILN_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR == (int)CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "attribute");
_Static_assert((int)KILN_BLAS_R_32F == (int)CUDA_R_32F && (int)KILN_BLAS_R_64F == (int)CUDA_R_64F && (int)KILN_BLAS_R_16F == (int)CUDA_R_16F
               && (int)KILN_BLAS_R_16BF == (int)CUDA_R_16BF, "data type");
_Static_assert((int)KILN_BLAS_COMPUTE_32F == (int)CUBLAS_COMPUTE_32F && (int)KILN_BLAS_COMPUTE_64F == (int)CUBLAS_COMPUTE_64F
               && (int)KILN_BLAS_COMPUTE_32F_FAST_TF32 == (int)CUBLAS_COMPUTE_32F_FAST_TF32, "compute type");
_Static_assert((int)KILN_BLAS_OP_N == (int)CUBLAS_OP_N && (int)KILN_BLAS_OP_T == (int)CUBLAS_OP_T, "operation");
_Static_assert(sizeof(CUdeviceptr) == sizeof(uint64_t), "device pointers are 64-bit");
#define KILN_HEADER_VERSION CUDA_VERSION
#else
#define KILN_HAVE_CUDA 0
typedef int CUresult;
typedef int CUdevice;
typedef int CUdevice_attribute;
typedef int CUjit_option;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext, *CUstream, *CUevent, *CUmodule, *CUfunction;
typedef int cublasStatus_t, cublasOperation_t, cudaDataType, cublasComputeType_t, cublasGemmAlgo_t;
typedef void *cublasHandle_t;
#define CU_JIT_ERROR_LOG_BUFFER 5
#define CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES 6
#define CU_STREAM_NON_BLOCKING 1
#define CU_EVENT_DISABLE_TIMING 2
#define CUBLAS_GEMM_DEFAULT (-1)
#define KILN_HEADER_VERSION 0
#endif

int kiln_cuda_built(void) { return KILN_HAVE_CUDA; }

// MARK: Opening libraries

/// Opens the first of `names` that loads (after the path in `override_variable`, when set); records the path.
static void *open_first(const char *override_variable, const char *const *names, char *path, size_t path_length,
                        char *reason, size_t length, const char *what) {
    const char *override = getenv(override_variable);
    if (override && *override) {
        void *handle = dlopen(override, RTLD_NOW | RTLD_GLOBAL);
        if (!handle) {
            snprintf(reason, length, "%s=%s could not be opened: %s", override_variable, override, dlerror());
            return NULL;
        }
        snprintf(path, path_length, "%s", override);
        return handle;
    }
    char tried[512] = "";
    for (const char *const *name = names; *name; ++name) {
        void *handle = dlopen(*name, RTLD_NOW | RTLD_GLOBAL);
        if (handle) {
            snprintf(path, path_length, "%s", *name);
            return handle;
        }
        size_t used = strlen(tried);
        snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "", *name);
    }
    snprintf(reason, length, "no %s library (tried %s on the loader path and LD_LIBRARY_PATH; set %s to its file)",
             what, tried, override_variable);
    return NULL;
}

// MARK: The driver

#define DRIVER_ENTRY_POINTS(X)                                                                                   \
    X(cuInit, "cuInit", CUresult, (unsigned))                                                                    \
    X(cuDriverGetVersion, "cuDriverGetVersion", CUresult, (int *))                                                \
    X(cuGetErrorName, "cuGetErrorName", CUresult, (CUresult, const char **))                                      \
    X(cuGetErrorString, "cuGetErrorString", CUresult, (CUresult, const char **))                                  \
    X(cuDeviceGetCount, "cuDeviceGetCount", CUresult, (int *))                                                    \
    X(cuDeviceGet, "cuDeviceGet", CUresult, (CUdevice *, int))                                                    \
    X(cuDeviceGetName, "cuDeviceGetName", CUresult, (char *, int, CUdevice))                                      \
    X(cuDeviceGetAttribute, "cuDeviceGetAttribute", CUresult, (int *, CUdevice_attribute, CUdevice))              \
    X(cuDeviceTotalMem, "cuDeviceTotalMem_v2", CUresult, (size_t *, CUdevice))                                    \
    X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", CUresult, (CUcontext *, CUdevice))                    \
    X(cuCtxSetCurrent, "cuCtxSetCurrent", CUresult, (CUcontext))                                                  \
    X(cuStreamCreate, "cuStreamCreate", CUresult, (CUstream *, unsigned))                                         \
    X(cuStreamSynchronize, "cuStreamSynchronize", CUresult, (CUstream))                                           \
    X(cuMemAlloc, "cuMemAlloc_v2", CUresult, (CUdeviceptr *, size_t))                                             \
    X(cuMemFree, "cuMemFree_v2", CUresult, (CUdeviceptr))                                                         \
    X(cuMemGetInfo, "cuMemGetInfo_v2", CUresult, (size_t *, size_t *))                                            \
    X(cuMemAllocHost, "cuMemAllocHost_v2", CUresult, (void **, size_t))                                           \
    X(cuMemFreeHost, "cuMemFreeHost", CUresult, (void *))                                                         \
    X(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", CUresult, (CUdeviceptr, const void *, size_t, CUstream))         \
    X(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", CUresult, (void *, CUdeviceptr, size_t, CUstream))               \
    X(cuMemsetD8Async, "cuMemsetD8Async", CUresult, (CUdeviceptr, unsigned char, size_t, CUstream))               \
    X(cuEventCreate, "cuEventCreate", CUresult, (CUevent *, unsigned))                                            \
    X(cuEventRecord, "cuEventRecord", CUresult, (CUevent, CUstream))                                              \
    X(cuEventSynchronize, "cuEventSynchronize", CUresult, (CUevent))                                              \
    X(cuModuleLoadDataEx, "cuModuleLoadDataEx", CUresult, (CUmodule *, const void *, unsigned, CUjit_option *, void **)) \
    X(cuModuleGetFunction, "cuModuleGetFunction", CUresult, (CUfunction *, CUmodule, const char *))               \
    X(cuLaunchKernel, "cuLaunchKernel", CUresult, (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, \
                                                   unsigned, unsigned, CUstream, void **, void **))

#define DECLARE(name, symbol, result, parameters) static result(*p_##name) parameters;
DRIVER_ENTRY_POINTS(DECLARE)

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;
static int driver_status = 1;
static char driver_reason[1024];
static char driver_path[512];

/// `cuGetProcAddress` (CUDA 11.3+; `_v2` from CUDA 12 adds a status out-parameter), for entry points the
/// library does not export under the versioned name this build asks for.
typedef CUresult (*get_proc_v1)(const char *, void **, int, unsigned long long);
typedef CUresult (*get_proc_v2)(const char *, void **, int, unsigned long long, int *);

/// The base name a versioned symbol is requested under from `cuGetProcAddress` (`cuMemAlloc_v2` → `cuMemAlloc`).
static void base_name(const char *symbol, char *out, size_t length) {
    snprintf(out, length, "%s", symbol);
    char *suffix = strstr(out, "_v");
    if (suffix) *suffix = 0;
}

static void *resolve_driver(void *library, const char *symbol) {
    void *entry = dlsym(library, symbol);
    if (entry) return entry;
    char name[128];
    base_name(symbol, name, sizeof name);
    int version = KILN_HEADER_VERSION ? KILN_HEADER_VERSION : 11080;
    get_proc_v2 v2 = (get_proc_v2)dlsym(library, "cuGetProcAddress_v2");
    if (v2) {
        int found = 0;
        if (v2(name, &entry, version, 0, &found) == 0 && entry) return entry;
    }
    get_proc_v1 v1 = (get_proc_v1)dlsym(library, "cuGetProcAddress");
    if (v1 && v1(name, &entry, version, 0) == 0 && entry) return entry;
    return NULL;
}

static void load_driver(void) {
    if (!KILN_HAVE_CUDA) {
        snprintf(driver_reason, sizeof driver_reason, "CUDA support not built: install nvidia-cuda-dev and rebuild");
        return;
    }
    static const char *const names[] = {"libcuda.so.1", "libcuda.so", NULL};
    void *library = open_first("KILN_CUDA_LIBRARY", names, driver_path, sizeof driver_path, driver_reason,
                               sizeof driver_reason, "CUDA driver");
    if (!library) return;
#define RESOLVE(name, symbol, result, parameters)                                                                \
    p_##name = (result(*) parameters)resolve_driver(library, symbol);                                            \
    if (!p_##name) {                                                                                             \
        snprintf(driver_reason, sizeof driver_reason, "the CUDA driver %s has no entry point %s", driver_path,   \
                 symbol);                                                                                        \
        return;                                                                                                  \
    }
    DRIVER_ENTRY_POINTS(RESOLVE)
#undef RESOLVE
    CUresult status = p_cuInit(0);
    if (status != 0) {
        // 803 is what a CUDA forward-compatibility libcuda (…/compat) ahead of the installed driver's on the
        // library path gives: name the library that was loaded and how to pick another.
        snprintf(driver_reason, sizeof driver_reason, "cuInit failed with %s (%d): %s (driver library %s%s)",
                 kiln_cuda_error_name(status), (int)status, kiln_cuda_error_string(status), driver_path,
                 status == 803 ? "; set KILN_CUDA_LIBRARY to the installed driver's libcuda.so.1" : "");
        return;
    }
    driver_status = 0;
}

int kiln_cuda_load(char *reason, size_t length) {
    pthread_once(&driver_once, load_driver);
    if (driver_status && reason && length) snprintf(reason, length, "%s", driver_reason);
    return driver_status;
}

const char *kiln_cuda_library_path(void) { return driver_status == 0 ? driver_path : ""; }

const char *kiln_cuda_error_name(int status) {
    const char *name = NULL;
    if (status == KILN_STATUS_NOT_LOADED) return "KILN_NOT_LOADED";
    if (p_cuGetErrorName && p_cuGetErrorName((CUresult)status, &name) == 0 && name) return name;
    return "CUDA_ERROR_UNKNOWN_CODE";
}

const char *kiln_cuda_error_string(int status) {
    const char *text = NULL;
    if (status == KILN_STATUS_NOT_LOADED) return "the CUDA driver library is not loaded";
    if (p_cuGetErrorString && p_cuGetErrorString((CUresult)status, &text) == 0 && text) return text;
    return "an error code this driver does not describe";
}

#define CALL(name, ...) return p_##name ? (int)p_##name(__VA_ARGS__) : KILN_STATUS_NOT_LOADED

int kiln_cuDriverGetVersion(int *version) { CALL(cuDriverGetVersion, version); }
int kiln_cuDeviceGetCount(int *count) { CALL(cuDeviceGetCount, count); }
int kiln_cuDeviceGet(int *device, int ordinal) { CALL(cuDeviceGet, (CUdevice *)device, ordinal); }
int kiln_cuDeviceGetName(char *name, int length, int device) { CALL(cuDeviceGetName, name, length, device); }
int kiln_cuDeviceGetAttribute(int *value, int attribute, int device) {
    CALL(cuDeviceGetAttribute, value, (CUdevice_attribute)attribute, device);
}
int kiln_cuDeviceTotalMem(size_t *bytes, int device) { CALL(cuDeviceTotalMem, bytes, device); }
int kiln_cuDevicePrimaryCtxRetain(void **context, int device) {
    CALL(cuDevicePrimaryCtxRetain, (CUcontext *)context, device);
}
int kiln_cuCtxSetCurrent(void *context) { CALL(cuCtxSetCurrent, (CUcontext)context); }
int kiln_cuStreamCreate(void **stream) { CALL(cuStreamCreate, (CUstream *)stream, CU_STREAM_NON_BLOCKING); }
int kiln_cuStreamSynchronize(void *stream) { CALL(cuStreamSynchronize, (CUstream)stream); }
int kiln_cuMemAlloc(uint64_t *pointer, size_t bytes) { CALL(cuMemAlloc, (CUdeviceptr *)pointer, bytes); }
int kiln_cuMemFree(uint64_t pointer) { CALL(cuMemFree, (CUdeviceptr)pointer); }
int kiln_cuMemGetInfo(size_t *free, size_t *total) { CALL(cuMemGetInfo, free, total); }
int kiln_cuMemAllocHost(void **pointer, size_t bytes) { CALL(cuMemAllocHost, pointer, bytes); }
int kiln_cuMemFreeHost(void *pointer) { CALL(cuMemFreeHost, pointer); }
int kiln_cuMemcpyHtoDAsync(uint64_t destination, const void *source, size_t bytes, void *stream) {
    CALL(cuMemcpyHtoDAsync, (CUdeviceptr)destination, source, bytes, (CUstream)stream);
}
int kiln_cuMemcpyDtoHAsync(void *destination, uint64_t source, size_t bytes, void *stream) {
    CALL(cuMemcpyDtoHAsync, destination, (CUdeviceptr)source, bytes, (CUstream)stream);
}
int kiln_cuMemsetD8Async(uint64_t destination, unsigned char value, size_t bytes, void *stream) {
    CALL(cuMemsetD8Async, (CUdeviceptr)destination, value, bytes, (CUstream)stream);
}
int kiln_cuEventCreate(void **event) { CALL(cuEventCreate, (CUevent *)event, CU_EVENT_DISABLE_TIMING); }
int kiln_cuEventRecord(void *event, void *stream) { CALL(cuEventRecord, (CUevent)event, (CUstream)stream); }
int kiln_cuEventSynchronize(void *event) { CALL(cuEventSynchronize, (CUevent)event); }
int kiln_cuModuleGetFunction(void **function, void *module, const char *name) {
    CALL(cuModuleGetFunction, (CUfunction *)function, (CUmodule)module, name);
}

int kiln_cuModuleLoadData(void **module, const void *image, char *log, size_t logLength) {
    if (!p_cuModuleLoadDataEx) return KILN_STATUS_NOT_LOADED;
    CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *values[] = {log, (void *)(uintptr_t)logLength};
    if (log && logLength) log[0] = 0;
    return (int)p_cuModuleLoadDataEx((CUmodule *)module, image, log && logLength ? 2 : 0, options, values);
}

int kiln_cuLaunchKernel(void *function, unsigned gridX, unsigned gridY, unsigned blockX, unsigned sharedBytes,
                        void *stream, void **parameters) {
    if (!p_cuLaunchKernel) return KILN_STATUS_NOT_LOADED;
    return (int)p_cuLaunchKernel((CUfunction)function, gridX, gridY, 1, blockX, 1, 1, sharedBytes, (CUstream)stream,
                                 parameters, NULL);
}

// MARK: cuBLAS

#define BLAS_ENTRY_POINTS(X)                                                                                     \
    X(cublasCreate, "cublasCreate_v2", cublasStatus_t, (cublasHandle_t *))                                      \
    X(cublasSetStream, "cublasSetStream_v2", cublasStatus_t, (cublasHandle_t, CUstream))                         \
    X(cublasSetWorkspace, "cublasSetWorkspace_v2", cublasStatus_t, (cublasHandle_t, void *, size_t))              \
    X(cublasGemmStridedBatchedEx, "cublasGemmStridedBatchedEx", cublasStatus_t,                                   \
      (cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *, const void *,           \
       cudaDataType, int, long long, const void *, cudaDataType, int, long long, const void *, void *,            \
       cudaDataType, int, long long, int, cublasComputeType_t, cublasGemmAlgo_t))

BLAS_ENTRY_POINTS(DECLARE)
static const char *(*p_cublasGetStatusName)(cublasStatus_t);
static const char *(*p_cublasGetStatusString)(cublasStatus_t);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static int blas_status = 1;
static char blas_reason[1024];
static char blas_path[512];

static void load_blas(void) {
    if (kiln_cuda_load(blas_reason, sizeof blas_reason) != 0) return;
    static const char *const names[] = {"libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11", NULL};
    void *library = open_first("KILN_CUBLAS_LIBRARY", names, blas_path, sizeof blas_path, blas_reason,
                               sizeof blas_reason, "cuBLAS");
    if (!library) return;
#define RESOLVE(name, symbol, result, parameters)                                                                \
    p_##name = (result(*) parameters)dlsym(library, symbol);                                                     \
    if (!p_##name) {                                                                                             \
        snprintf(blas_reason, sizeof blas_reason, "cuBLAS %s has no entry point %s", blas_path, symbol);         \
        return;                                                                                                  \
    }
    BLAS_ENTRY_POINTS(RESOLVE)
#undef RESOLVE
    p_cublasGetStatusName = (const char *(*)(cublasStatus_t))dlsym(library, "cublasGetStatusName");
    p_cublasGetStatusString = (const char *(*)(cublasStatus_t))dlsym(library, "cublasGetStatusString");
    blas_status = 0;
}

int kiln_cublas_load(char *reason, size_t length) {
    pthread_once(&blas_once, load_blas);
    if (blas_status && reason && length) snprintf(reason, length, "%s", blas_reason);
    return blas_status;
}

const char *kiln_cublas_library_path(void) { return blas_status == 0 ? blas_path : ""; }

const char *kiln_cublas_status_name(int status) {
    if (status == KILN_STATUS_NOT_LOADED) return "KILN_NOT_LOADED";
    if (p_cublasGetStatusName) return p_cublasGetStatusName((cublasStatus_t)status);
    return "CUBLAS_STATUS_UNKNOWN";
}

const char *kiln_cublas_status_string(int status) {
    if (status == KILN_STATUS_NOT_LOADED) return "cuBLAS is not loaded";
    if (p_cublasGetStatusString) return p_cublasGetStatusString((cublasStatus_t)status);
    return "a status this cuBLAS does not describe";
}

int kiln_cublasCreate(void **handle) { CALL(cublasCreate, (cublasHandle_t *)handle); }
int kiln_cublasSetStream(void *handle, void *stream) { CALL(cublasSetStream, (cublasHandle_t)handle, (CUstream)stream); }
int kiln_cublasSetWorkspace(void *handle, uint64_t workspace, size_t bytes) {
    CALL(cublasSetWorkspace, (cublasHandle_t)handle, (void *)(uintptr_t)workspace, bytes);
}

int kiln_cublasGemmStridedBatchedEx(void *handle, int transA, int transB, int m, int n, int k, const void *alpha,
                                    uint64_t a, int aType, int lda, long long strideA,
                                    uint64_t b, int bType, int ldb, long long strideB, const void *beta,
                                    uint64_t c, int cType, int ldc, long long strideC, int batchCount,
                                    int computeType) {
    CALL(cublasGemmStridedBatchedEx, (cublasHandle_t)handle, (cublasOperation_t)transA, (cublasOperation_t)transB,
         m, n, k, alpha, (const void *)(uintptr_t)a, (cudaDataType)aType, lda, strideA,
         (const void *)(uintptr_t)b, (cudaDataType)bType, ldb, strideB, beta, (void *)(uintptr_t)c,
         (cudaDataType)cType, ldc, strideC, batchCount, (cublasComputeType_t)computeType,
         (cublasGemmAlgo_t)CUBLAS_GEMM_DEFAULT);
}

// MARK: The embedded kernels (KernelsPTX.c)

extern const char *const kiln_kernel_modules[];
extern const char *const kiln_kernel_module_names[];
extern const int kiln_kernel_modules_count;

int kiln_kernel_module_count(void) { return kiln_kernel_modules_count; }
const char *kiln_kernel_module(int index) { return kiln_kernel_modules[index]; }
const char *kiln_kernel_module_name(int index) { return kiln_kernel_module_names[index]; }
