#include "echo/server/admission/port_filter.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace {

using echo::port_filter;

TEST(PortFilter, ParsesPortsAndRanges) {
  const auto f = port_filter::parse("0-1023,2049");
  EXPECT_TRUE(f.blocks(0));
  EXPECT_TRUE(f.blocks(7));
  EXPECT_TRUE(f.blocks(1023));
  EXPECT_FALSE(f.blocks(1024));
  EXPECT_TRUE(f.blocks(2049));
  EXPECT_FALSE(f.blocks(2050));
  EXPECT_EQ(f.count(), 1025u);
}

TEST(PortFilter, EmptyListBlocksNothing) {
  EXPECT_TRUE(port_filter::parse("").empty());
  EXPECT_TRUE(port_filter::parse("  ").empty());
  EXPECT_FALSE(port_filter::parse("").blocks(7));
}

TEST(PortFilter, EmptyElementsAreErrors) {
  // "1,,2" is a typo, not "1 and 2": say so rather than guess.
  for (const char* list : {"1,,2", ",1", "1,", " , "})
    EXPECT_THROW(port_filter::parse(list), std::invalid_argument) << list;
}

TEST(PortFilter, AcceptsBlanksAroundElements) {
  const auto f = port_filter::parse(" 7 , 19 - 20 ");
  EXPECT_TRUE(f.blocks(7));
  EXPECT_TRUE(f.blocks(19));
  EXPECT_TRUE(f.blocks(20));
  EXPECT_FALSE(f.blocks(21));
}

TEST(PortFilter, FullRange) {
  EXPECT_TRUE(port_filter::parse("0-65535").blocks(65535));
  EXPECT_EQ(port_filter::parse("0-65535").count(), 65536u);
}

TEST(PortFilter, CanonicalTextMergesAndSorts) {
  EXPECT_EQ(port_filter::parse("2049,0-10,11-1023").to_string(), "0-1023,2049");
  EXPECT_EQ(port_filter::parse("").to_string(), "");
}

TEST(PortFilter, RejectsNonsenseNamingTheElement) {
  for (const char* bad : {"x", "1-", "-5", "70000", "5-3", "1;2", "0x10"}) {
    try {
      port_filter::parse(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

} // namespace
