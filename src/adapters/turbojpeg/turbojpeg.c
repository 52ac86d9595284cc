/*
 * A minimal Node-API binding over libjpeg-turbo's TurboJPEG API: JPEG -> packed RGB, with
 * libjpeg's DCT-domain downscaling (1/2, 1/4, 1/8), which is much cheaper than decoding at full
 * size and resizing. Built by build.sh with the C compiler only (Node-API is ABI-stable, so no
 * node-gyp or node-addon-api is needed); rxfeed falls back to sharp when it is absent.
 *
 * One decompressor handle per JavaScript environment (main thread or worker thread), kept as the
 * environment's instance data, so worker threads never share a handle.
 */
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error(env, "RXFEED_ERR_DECODE", "turbojpeg: N-API failure"); \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

static void finalize_handle(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  if (data != NULL) tjDestroy((tjhandle)data);
}

static tjhandle handle_for(napi_env env) {
  void* data = NULL;
  if (napi_get_instance_data(env, &data) == napi_ok && data != NULL) return (tjhandle)data;
  tjhandle handle = tjInitDecompress();
  if (handle == NULL) return NULL;
  if (napi_set_instance_data(env, handle, finalize_handle, NULL) != napi_ok) {
    tjDestroy(handle);
    return NULL;
  }
  return handle;
}

/*
 * After an error, TurboJPEG 2.1 leaves the decompressor mid-stream (the next header read fails
 * with "two SOI markers"), so one bad image would fail every later one on this thread. Drop it;
 * handle_for makes a fresh one on the next call. Setting new instance data does not run the old
 * finalizer, so the old handle is destroyed here.
 */
static void drop_handle(napi_env env, tjhandle handle) {
  if (handle == NULL) return;
  if (napi_set_instance_data(env, NULL, NULL, NULL) == napi_ok) tjDestroy(handle);
}

static napi_value throw_decode(napi_env env, tjhandle handle, const char* what) {
  char message[512];
  snprintf(message, sizeof message, "turbojpeg: %s: %s", what,
           handle != NULL ? tjGetErrorStr2(handle) : "no decompressor");
  drop_handle(env, handle);
  napi_throw_error(env, "RXFEED_ERR_DECODE", message);
  return NULL;
}

static napi_value throw_plain(napi_env env, const char* message) {
  napi_throw_error(env, "RXFEED_ERR_DECODE", message);
  return NULL;
}

static int get_bytes(napi_env env, napi_value value, unsigned char** bytes, size_t* length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void* data;
  if (napi_get_typedarray_info(env, value, &type, length, &data, &buffer, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *bytes = (unsigned char*)data;
  return 1;
}

/*
 * Reads the frame header; 0 (with a JavaScript exception pending) when it is unreadable or names
 * no image. TurboJPEG answers success with 0x0 for a tables-only stream (no frame at all), and
 * libjpeg's markers allow up to 65535 per side: neither may reach an allocation unchecked.
 */
static int read_header(napi_env env, tjhandle handle, const unsigned char* bytes, size_t length,
                       int* width, int* height) {
  int subsampling, colorspace;
  if (handle == NULL) {
    throw_decode(env, NULL, "cannot read the JPEG header");
    return 0;
  }
  if (length > (size_t)0xffffffffUL) {
    throw_plain(env, "turbojpeg: the JPEG is larger than 4 GiB");
    return 0;
  }
  if (tjDecompressHeader3(handle, bytes, (unsigned long)length, width, height, &subsampling, &colorspace) != 0) {
    throw_decode(env, handle, "cannot read the JPEG header");
    return 0;
  }
  if (*width <= 0 || *height <= 0) {
    char message[160];
    snprintf(message, sizeof message, "turbojpeg: the JPEG has no image frame (header reads %dx%d)", *width, *height);
    drop_handle(env, handle);
    throw_plain(env, message);
    return 0;
  }
  return 1;
}

/* header(bytes) -> [width, height], both at least 1 */
static napi_value header(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  unsigned char* bytes;
  size_t length;
  if (argc < 1 || !get_bytes(env, argv[0], &bytes, &length)) {
    napi_throw_type_error(env, "RXFEED_ERR_INVALID_ARG", "turbojpeg.header: expected a Uint8Array");
    return NULL;
  }
  int width, height;
  if (!read_header(env, handle_for(env), bytes, length, &width, &height)) return NULL;
  napi_value result, w, h;
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_create_int32(env, width, &w));
  CHECK(napi_create_int32(env, height, &h));
  CHECK(napi_set_element(env, result, 0, w));
  CHECK(napi_set_element(env, result, 1, h));
  return result;
}

/*
 * decode(bytes, scaleDenominator, fastDct, out) -> undefined
 *
 * Decodes to packed RGB into `out`, a Uint8Array the caller allocated with exactly
 * ceil(width / scale) x ceil(height / scale) x 3 bytes. The caller allocates (and bounds) it: a
 * failed JavaScript allocation is a catchable RangeError, where a failed napi_create_arraybuffer
 * aborts the whole process (issue 9.11).
 */
static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  unsigned char* bytes;
  size_t length;
  unsigned char* out;
  size_t out_length;
  if (argc < 4 || !get_bytes(env, argv[0], &bytes, &length) || !get_bytes(env, argv[3], &out, &out_length)) {
    napi_throw_type_error(env, "RXFEED_ERR_INVALID_ARG", "turbojpeg.decode: expected (Uint8Array, scale, fastDct, Uint8Array)");
    return NULL;
  }
  int32_t denominator = 1;
  bool fast = false;
  CHECK(napi_get_value_int32(env, argv[1], &denominator));
  CHECK(napi_get_value_bool(env, argv[2], &fast));
  if (denominator != 1 && denominator != 2 && denominator != 4 && denominator != 8) {
    napi_throw_range_error(env, "RXFEED_ERR_INVALID_ARG", "turbojpeg.decode: scale must be 1, 2, 4 or 8");
    return NULL;
  }
  tjhandle handle = handle_for(env);
  int width, height;
  if (!read_header(env, handle, bytes, length, &width, &height)) return NULL;
  int scaled_width = (width + denominator - 1) / denominator; /* TJSCALED with num = 1 */
  int scaled_height = (height + denominator - 1) / denominator;
  if ((size_t)scaled_width * (size_t)scaled_height * 3 != out_length) {
    napi_throw_range_error(env, "RXFEED_ERR_INVALID_ARG", "turbojpeg.decode: the output array does not fit the image");
    return NULL;
  }
  /* LIMITSCANS: a progressive JPEG with thousands of scans would otherwise take minutes. */
  int flags = TJFLAG_LIMITSCANS | (fast ? TJFLAG_FASTDCT : 0);
  if (tjDecompress2(handle, bytes, (unsigned long)length, out, scaled_width, 0, scaled_height, TJPF_RGB, flags) != 0) {
    if (tjGetErrorCode(handle) != TJERR_WARNING) return throw_decode(env, handle, "cannot decode");
    /*
     * A warning leaves a full image. libjpeg reports the first one only; a stream that ends
     * early ("Premature end of JPEG file") has its missing rows painted grey, which is not the
     * image: refuse it, as PIL does by default. Other warnings (corrupt but decodable data,
     * extraneous bytes) keep the image, as PIL and libjpeg's own tools do.
     */
    if (strstr(tjGetErrorStr2(handle), "Premature end of JPEG file") != NULL) {
      return throw_decode(env, handle, "the JPEG is truncated");
    }
    drop_handle(env, handle);
  }
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  if (napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decode", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "header", NAPI_AUTO_LENGTH, header, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "header", fn) != napi_ok) return NULL;
  return exports;
}
