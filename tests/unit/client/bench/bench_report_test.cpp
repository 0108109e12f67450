#include "echo/client/bench/bench_report.hpp"

#include <gtest/gtest.h>

namespace {

using echo::bench_report;
using echo::transport;

TEST(BenchReport, TheSetupLineIsForTcpConnectionsOpenedOneAfterAnother) {
  bench_report udp;
  udp.protocol = transport::udp;
  udp.connections = 10;
  EXPECT_EQ(echo::format_text(udp).find("setup"), std::string::npos);

  bench_report tls;
  tls.tls = true;
  tls.connections = 500;
  tls.setup_seconds = 0.25;
  const auto text = echo::format_text(tls);
  EXPECT_NE(text.find("tcp over tls, 500 connection(s)"), std::string::npos) << text;
  EXPECT_NE(text.find("opened one after another in 0.250 s (2000.000/s, handshakes included)"), std::string::npos)
      << text;

  bench_report churn = tls;
  churn.churn = true;
  const auto churn_text = echo::format_text(churn);
  EXPECT_EQ(churn_text.find("setup"), std::string::npos) << churn_text;
  EXPECT_NE(churn_text.find("500 worker(s) each connecting anew for every message"), std::string::npos) << churn_text;
}

TEST(BenchReport, JsonSaysTlsAndChurn) {
  bench_report r;
  r.tls = true;
  r.churn = true;
  const auto json = echo::format_json(r);
  EXPECT_NE(json.find(R"("tls":true,"churn":true)"), std::string::npos) << json;
}

} // namespace
