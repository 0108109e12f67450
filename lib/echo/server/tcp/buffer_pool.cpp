#include "echo/server/tcp/buffer_pool.hpp"

namespace echo {
namespace {

struct free_list {
  std::vector<std::unique_ptr<std::byte[]>> buffers;
  free_list() { buffers.reserve(buffer_pool::cached_per_thread); }
};

free_list& local_free_list() {
  thread_local free_list list;
  return list;
}

} // namespace

buffer_pool::lease buffer_pool::acquire() {
  auto& list = local_free_list().buffers;
  if (list.empty()) return lease(std::make_unique_for_overwrite<std::byte[]>(buffer_size));
  lease taken(std::move(list.back()));
  list.pop_back();
  return taken;
}

void buffer_pool::lease::release() noexcept {
  if (!memory_) return;
  auto& list = local_free_list().buffers;
  if (list.size() < cached_per_thread) list.push_back(std::move(memory_));
  memory_.reset();
}

std::size_t buffer_pool::cached() noexcept { return local_free_list().buffers.size(); }

} // namespace echo
