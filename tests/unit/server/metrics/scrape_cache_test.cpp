// The budget of fresh /metrics renders: a burst, then a steady rate; past
// it, the last render is reused. Time is given, never waited for.
#include "echo/server/metrics/scrape_cache.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace {

using echo::scrape_cache;
using namespace std::chrono_literals;

struct counting_render {
  int renders = 0;
  std::string operator()() { return "render " + std::to_string(++renders); }
};

TEST(ScrapeCache, TheBurstIsRenderedAfreshThenTheLastRenderIsReused) {
  scrape_cache cache;
  counting_render render;
  const auto t0 = scrape_cache::clock::now();
  for (int i = 1; i <= scrape_cache::fresh_burst; ++i)
    EXPECT_EQ(*cache.text(t0, render), "render " + std::to_string(i));
  const auto last = cache.text(t0, render);
  EXPECT_EQ(*last, "render " + std::to_string(scrape_cache::fresh_burst));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(cache.text(t0 + 50ms, render), last) << "the same text, not a copy";
  EXPECT_EQ(render.renders, scrape_cache::fresh_burst);
}

TEST(ScrapeCache, AFloodGetsOneFreshRenderPerTenthOfASecond) {
  scrape_cache cache;
  counting_render render;
  auto now = scrape_cache::clock::now();
  for (int i = 0; i < scrape_cache::fresh_burst; ++i) cache.text(now, render);
  // 100 scrapes a second for 10 s: 10 fresh renders a second.
  for (int i = 0; i < 1000; ++i) {
    now += 10ms;
    cache.text(now, render);
  }
  EXPECT_NEAR(render.renders, scrape_cache::fresh_burst + 10 * scrape_cache::fresh_per_second, 1);
}

TEST(ScrapeCache, AnOccasionalScrapeIsAlwaysFresh) {
  scrape_cache cache;
  counting_render render;
  auto now = scrape_cache::clock::now();
  // A scrape every 100 ms (10 a second) forever: each rendered when it asks.
  for (int i = 1; i <= 100; ++i) {
    EXPECT_EQ(*cache.text(now, render), "render " + std::to_string(i));
    now += 100ms;
  }
  // And after a quiet second, a whole burst again.
  now += 1s;
  for (int i = 0; i < scrape_cache::fresh_burst; ++i) cache.text(now, render);
  EXPECT_EQ(render.renders, 100 + scrape_cache::fresh_burst);
}

TEST(ScrapeCache, TheFirstScrapeIsRenderedWhateverTheBudget) {
  scrape_cache cache;
  const auto now = scrape_cache::clock::now();
  for (int i = 0; i < scrape_cache::fresh_burst; ++i) EXPECT_TRUE(cache.take_token(now));
  EXPECT_FALSE(cache.take_token(now));
  counting_render render;
  EXPECT_EQ(*cache.text(now, render), "render 1");
}

} // namespace
