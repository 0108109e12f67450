// Boost.JSON compiled into this library (header-only use): --merge reads reports with it.
#include <boost/json/src.hpp>
