/* townhall.media._fanout_c: the fan-out's per-listener loop in C.
 *
 * A Core holds one row per listener: its libsrtp context (srtp_t), a dup of its UDP
 * socket, its destination address and its RTP header fields. Core.send() writes each
 * listener's header in front of the shared payload, protects it with libsrtp's
 * srtp_protect and sends it with sendto(), all with the GIL released: one call per round.
 *
 * libsrtp is not linked here. The addresses of srtp_protect and srtp_protect_rtcp are
 * handed in at run time (configure()), taken from pylibsrtp's cffi binding, so the
 * library is the one pylibsrtp ships. A libsrtp context is not thread-safe: every
 * protect made through this module holds one process-wide mutex, and townhall routes
 * every other protect of these sessions through protect()/protect_rtcp() below.
 *
 * add() takes ownership of a descriptor: the caller passes a dup() of the socket, so a
 * socket closed elsewhere while a round runs never lets the round write into whatever
 * reuses its descriptor number. A Core is used by one thread at a time
 * (townhall.media.native guarantees it); add/remove during send() raise.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RTP_HEADER 12
#define BUFFER_SIZE 1500
#define MAX_TRAILER 144 /* libsrtp's worst case (auth tag + MKI), as pylibsrtp reserves */
#define MAX_PLAINTEXT (BUFFER_SIZE - MAX_TRAILER)

typedef int (*srtp_fn)(void *ctx, void *packet, int *length);

static srtp_fn g_protect = NULL;
static srtp_fn g_protect_rtcp = NULL;
static pthread_mutex_t g_srtp_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    void *ctx;
    int fd;
    uint32_t ssrc;
    uint16_t seq_offset;
    uint8_t payload_type;
    unsigned long long start_round;
    socklen_t addrlen;
    struct sockaddr_storage addr;
} Row;

typedef struct {
    PyObject_HEAD
    Row *rows;
    Py_ssize_t len;
    Py_ssize_t cap;
    int busy;
} Core;

static int
not_busy(Core *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Core is sending (used from two threads)");
        return 0;
    }
    return 1;
}

static int
fill_address(Row *row, int family, const char *host, int port, unsigned int flowinfo,
             unsigned int scope_id)
{
    memset(&row->addr, 0, sizeof(row->addr));
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return 0;
    }
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&row->addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
            PyErr_Format(PyExc_ValueError, "not an IPv4 address: %s", host);
            return 0;
        }
        row->addrlen = sizeof(*a);
        return 1;
    }
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&row->addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        a->sin6_flowinfo = htonl(flowinfo);
        a->sin6_scope_id = scope_id;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
            PyErr_Format(PyExc_ValueError, "not an IPv6 address: %s", host);
            return 0;
        }
        row->addrlen = sizeof(*a);
        return 1;
    }
    PyErr_SetString(PyExc_ValueError, "family must be AF_INET or AF_INET6");
    return 0;
}

static PyObject *
Core_add(Core *self, PyObject *args)
{
    unsigned long long ctx, start_round;
    int fd, family, port;
    const char *host;
    unsigned int flowinfo, scope_id, ssrc, seq_offset, payload_type;
    if (!PyArg_ParseTuple(args, "KiisiIIIIIK", &ctx, &fd, &family, &host, &port, &flowinfo,
                          &scope_id, &ssrc, &payload_type, &seq_offset, &start_round))
        return NULL;
    if (!not_busy(self))
        return NULL;
    if (ctx == 0) {
        PyErr_SetString(PyExc_ValueError, "null SRTP context");
        return NULL;
    }
    if (payload_type > 127) {
        PyErr_SetString(PyExc_ValueError, "payload type out of range");
        return NULL;
    }
    Row row;
    memset(&row, 0, sizeof(row));
    if (!fill_address(&row, family, host, port, flowinfo, scope_id))
        return NULL;
    row.ctx = (void *)(uintptr_t)ctx;
    row.ssrc = ssrc;
    row.payload_type = (uint8_t)payload_type;
    row.seq_offset = (uint16_t)(seq_offset & 0xFFFF);
    row.start_round = start_round;
    if (self->len == self->cap) {
        Py_ssize_t cap = self->cap ? self->cap * 2 : 64;
        Row *rows = PyMem_Realloc(self->rows, (size_t)cap * sizeof(Row));
        if (rows == NULL)
            return PyErr_NoMemory();
        self->rows = rows;
        self->cap = cap;
    }
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "bad file descriptor");
        return NULL;
    }
    row.fd = fd; /* owned from here on: closed by remove() or when the Core goes */
    self->rows[self->len] = row;
    return PyLong_FromSsize_t(self->len++);
}

static PyObject *
Core_remove(Core *self, PyObject *arg)
{
    Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred())
        return NULL;
    if (!not_busy(self))
        return NULL;
    if (index < 0 || index >= self->len) {
        PyErr_SetString(PyExc_IndexError, "no such row");
        return NULL;
    }
    close(self->rows[index].fd);
    Py_ssize_t last = self->len - 1;
    self->len = last;
    if (index == last)
        return PyLong_FromLong(-1);
    self->rows[index] = self->rows[last];
    return PyLong_FromSsize_t(last); /* the row that moved into `index` */
}

/* send(payload, round, timestamp, marker) -> (sent, [(row, code), ...])
 * code > 0: the errno of sendto; code < 0: minus libsrtp's error status. */
static PyObject *
Core_send(Core *self, PyObject *args)
{
    Py_buffer payload;
    unsigned long long round;
    unsigned int timestamp;
    int marker;
    if (!PyArg_ParseTuple(args, "y*KIp", &payload, &round, &timestamp, &marker))
        return NULL;
    if (!not_busy(self) || g_protect == NULL) {
        if (g_protect == NULL)
            PyErr_SetString(PyExc_RuntimeError, "configure() was not called");
        PyBuffer_Release(&payload);
        return NULL;
    }
    if (payload.len <= 0 || payload.len > MAX_PLAINTEXT - RTP_HEADER) {
        PyBuffer_Release(&payload);
        PyErr_SetString(PyExc_ValueError, "payload size out of range");
        return NULL;
    }
    Py_ssize_t n = self->len;
    int *fail_row = NULL, *fail_code = NULL;
    if (n > 0) {
        fail_row = PyMem_Malloc((size_t)n * sizeof(int));
        fail_code = PyMem_Malloc((size_t)n * sizeof(int));
        if (fail_row == NULL || fail_code == NULL) {
            PyMem_Free(fail_row);
            PyMem_Free(fail_code);
            PyBuffer_Release(&payload);
            return PyErr_NoMemory();
        }
    }
    const unsigned char *data = payload.buf;
    const int plain = (int)payload.len + RTP_HEADER;
    const uint32_t ts = htonl(timestamp);
    const uint8_t mark = marker ? 0x80 : 0;
    Py_ssize_t failures = 0, sent = 0;
    Row *rows = self->rows;
    srtp_fn protect = g_protect;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    unsigned char packet[BUFFER_SIZE];
    packet[0] = 0x80;
    for (Py_ssize_t i = 0; i < n; i++) {
        Row *row = &rows[i];
        if (round < row->start_round)
            continue;
        uint16_t seq = htons((uint16_t)(row->seq_offset + (uint16_t)round));
        uint32_t ssrc = htonl(row->ssrc);
        packet[1] = row->payload_type | mark;
        memcpy(packet + 2, &seq, 2);
        memcpy(packet + 4, &ts, 4);
        memcpy(packet + 8, &ssrc, 4);
        memcpy(packet + RTP_HEADER, data, (size_t)payload.len);
        int length = plain;
        pthread_mutex_lock(&g_srtp_lock);
        int status = protect(row->ctx, packet, &length);
        pthread_mutex_unlock(&g_srtp_lock);
        if (status != 0) {
            fail_row[failures] = (int)i;
            fail_code[failures++] = -status;
            continue;
        }
        ssize_t written = sendto(row->fd, packet, (size_t)length, 0,
                                 (struct sockaddr *)&row->addr, row->addrlen);
        if (written < 0) {
            fail_row[failures] = (int)i;
            fail_code[failures++] = errno;
            continue;
        }
        sent++;
    }
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyBuffer_Release(&payload);
    PyObject *failed = PyList_New(failures);
    if (failed != NULL) {
        for (Py_ssize_t k = 0; k < failures; k++) {
            PyObject *item = Py_BuildValue("(ii)", fail_row[k], fail_code[k]);
            if (item == NULL) {
                Py_CLEAR(failed);
                break;
            }
            PyList_SET_ITEM(failed, k, item);
        }
    }
    PyMem_Free(fail_row);
    PyMem_Free(fail_code);
    if (failed == NULL)
        return NULL;
    return Py_BuildValue("(nN)", sent, failed);
}

static Py_ssize_t
Core_length(Core *self)
{
    return self->len;
}

static void
Core_dealloc(Core *self)
{
    for (Py_ssize_t i = 0; i < self->len; i++)
        close(self->rows[i].fd);
    PyMem_Free(self->rows);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Core_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (!PyArg_ParseTuple(args, ":Core"))
        return NULL;
    Core *self = (Core *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->rows = NULL;
    self->len = self->cap = 0;
    self->busy = 0;
    return (PyObject *)self;
}

static PyMethodDef Core_methods[] = {
    {"add", (PyCFunction)Core_add, METH_VARARGS,
     "add(ctx, owned_fd, family, host, port, flowinfo, scope_id, ssrc, payload_type, seq_offset, "
     "start_round) -> row"},
    {"remove", (PyCFunction)Core_remove, METH_O,
     "remove(row) -> the row index that moved into its place, or -1"},
    {"send", (PyCFunction)Core_send, METH_VARARGS,
     "send(payload, round, timestamp, marker) -> (sent, [(row, code)])"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Core_as_sequence = {
    .sq_length = (lenfunc)Core_length,
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "townhall.media._fanout_c.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Listener rows of one fan-out; send() protects and sends to all of them.",
    .tp_new = Core_new,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
    .tp_as_sequence = &Core_as_sequence,
};

static PyObject *
configure(PyObject *module, PyObject *args)
{
    unsigned long long protect, protect_rtcp;
    if (!PyArg_ParseTuple(args, "KK", &protect, &protect_rtcp))
        return NULL;
    if (protect == 0 || protect_rtcp == 0) {
        PyErr_SetString(PyExc_ValueError, "null function address");
        return NULL;
    }
    g_protect = (srtp_fn)(uintptr_t)protect;
    g_protect_rtcp = (srtp_fn)(uintptr_t)protect_rtcp;
    Py_RETURN_NONE;
}

static PyObject *
locked_protect(PyObject *args, int rtcp)
{
    unsigned long long ctx;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "Ky*", &ctx, &data))
        return NULL;
    srtp_fn fn = rtcp ? g_protect_rtcp : g_protect;
    if (fn == NULL || ctx == 0) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_RuntimeError, "not configured, or a null SRTP context");
        return NULL;
    }
    if (data.len > MAX_PLAINTEXT) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    unsigned char packet[BUFFER_SIZE];
    memcpy(packet, data.buf, (size_t)data.len);
    int length = (int)data.len;
    PyBuffer_Release(&data);
    pthread_mutex_lock(&g_srtp_lock);
    int status = fn((void *)(uintptr_t)ctx, packet, &length);
    pthread_mutex_unlock(&g_srtp_lock);
    if (status != 0)
        return PyErr_Format(PyExc_RuntimeError, "srtp_protect%s failed with status %d",
                            rtcp ? "_rtcp" : "", status);
    return PyBytes_FromStringAndSize((const char *)packet, length);
}

static PyObject *
protect_rtp(PyObject *module, PyObject *args)
{
    return locked_protect(args, 0);
}

static PyObject *
protect_rtcp(PyObject *module, PyObject *args)
{
    return locked_protect(args, 1);
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(srtp_protect_address, srtp_protect_rtcp_address)"},
    {"protect", protect_rtp, METH_VARARGS, "protect(ctx, rtp) -> srtp, under the SRTP lock"},
    {"protect_rtcp", protect_rtcp, METH_VARARGS,
     "protect_rtcp(ctx, rtcp) -> srtcp, under the SRTP lock"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "townhall.media._fanout_c",
    .m_doc = "The fan-out's per-listener loop (RTP header, libsrtp protect, sendto) in C.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__fanout_c(void)
{
    if (PyType_Ready(&CoreType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(module, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "MAX_PAYLOAD", MAX_PLAINTEXT - RTP_HEADER) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
