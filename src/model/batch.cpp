#include "model/batch.h"

#include <algorithm>

namespace ponder {

int64_t Batch::n_logit_rows() const { return std::count(want_logits.begin(), want_logits.end(), uint8_t{1}); }

void Batch::add_sequence_tokens(int32_t seq, std::span<const int32_t> ids, int32_t first_pos, bool logits_for_last) {
  for (size_t i = 0; i < ids.size(); ++i) {
    tokens.push_back(ids[i]);
    positions.push_back(first_pos + static_cast<int32_t>(i));
    seq_index.push_back(seq);
    want_logits.push_back(logits_for_last && i + 1 == ids.size() ? 1 : 0);
  }
}

}  // namespace ponder
