# Compiler warnings and sanitizers as INTERFACE targets, linked PRIVATE by
# every target of ours so third-party headers are not held to our flags.
add_library(echo_warnings INTERFACE)
target_compile_options(echo_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wcast-align
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual>)
if(ECHO_WARNINGS_AS_ERRORS)
  target_compile_options(echo_warnings INTERFACE -Werror)
endif()

add_library(echo_sanitizers INTERFACE)
if(ECHO_SANITIZER)
  target_compile_options(echo_sanitizers INTERFACE
    -fsanitize=${ECHO_SANITIZER} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(echo_sanitizers INTERFACE -fsanitize=${ECHO_SANITIZER})
  if(ECHO_SANITIZER MATCHES "thread")
    # GCC warns that TSan does not model the standalone fences in Asio's
    # fenced blocks; Asio's queues are mutex-protected, which TSan does see.
    target_compile_options(echo_sanitizers INTERFACE -Wno-tsan)
  endif()
  if(ECHO_SANITIZER MATCHES "undefined")
    # UBSan's vptr check confirms a vtable is readable by writing it to a
    # pipe; when a test exhausts the server's descriptors on purpose, pipe()
    # fails and it reports Boost.System's error categories as "invalid vptr".
    # GCC's runtime offers no working suppression for it, so that one check is off.
    target_compile_options(echo_sanitizers INTERFACE -fno-sanitize=vptr)
    target_link_options(echo_sanitizers INTERFACE -fno-sanitize=vptr)
  endif()
endif()
