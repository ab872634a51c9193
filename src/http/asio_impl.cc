// The one translation unit that compiles Boost.Asio and Boost.Beast (separate compilation: the
// BOOST_*_SEPARATE_COMPILATION defines are PUBLIC on imgpipe_asio, so every user of the headers
// links against the definitions compiled here instead of instantiating them again).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
