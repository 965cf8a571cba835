// Batch: one forward step's worth of tokens from any number of sequences, as plain data. Prefill
// chunks and decode tokens of different requests share one batch. Token t belongs to sequence
// seq_index[t] at position positions[t]; that sequence's KV blocks are block_tables[seq_index[t]]
// (position p lives in block block_tables[s][p / block_size]). The blocks must cover every
// position up to the sequence's last token in this batch, and positions before the batch's tokens
// must already be in the cache. Logits are computed only for tokens with want_logits set, in
// batch order.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ponder {

struct Batch {
  std::vector<int32_t> tokens;                    // (n_tokens)
  std::vector<int32_t> positions;                 // (n_tokens)
  std::vector<int32_t> seq_index;                 // (n_tokens)
  std::vector<uint8_t> want_logits;               // (n_tokens) 0 or 1
  std::vector<std::vector<int32_t>> block_tables; // (n_seqs) block ids

  int64_t n_tokens() const { return static_cast<int64_t>(tokens.size()); }
  int64_t n_logit_rows() const;

  // Appends the tokens of sequence `seq` starting at position `first_pos`; logits for the last
  // one only if `logits_for_last`.
  void add_sequence_tokens(int32_t seq, std::span<const int32_t> ids, int32_t first_pos, bool logits_for_last);
};

}  // namespace ponder
