// KvLayerView's checks (the layout itself is described in backend.h): which element types a KV
// cache may hold. Shared by KvCache and every backend's kv_store / attention, so a bad type gives
// the same message wherever it is first met.
#include "core/error.h"
#include "kernels/backend.h"

namespace ponder {

void check_kv_dtype(DType dtype, int64_t head_dim) {
  PONDER_CHECK(dtype == DType::F32 || dtype == DType::F16 || dtype == DType::Q8_0,
               "KV cache type {} is not supported (f32, f16, q8_0)", dtype_name(dtype));
  PONDER_CHECK(head_dim > 0, "KV cache: head_dim {} must be positive", head_dim);
  PONDER_CHECK(dtype != DType::Q8_0 || head_dim % 32 == 0,
               "KV cache type q8_0 needs head_dim to be a multiple of 32 (q8_0 blocks hold 32 values), but "
               "head_dim is {}; use f16 or f32",
               head_dim);
}

}  // namespace ponder
