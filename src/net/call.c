/* call.c: requests being served (struct net_call) and their replies. A call
 * outlives its connection: if the requester went away, the reply is
 * dropped when it is finally sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/internal.h"

struct net_call {
    struct conn *conn;          /* NULL once the connection is gone */
    struct net_call *next, *prev;
    struct net_request req;
    struct net_origin origin;
    char op[NET_OP_MAX + 1];
    struct net_bytes args[NET_ARGS_MAX];
    uint8_t data[];             /* the argument bytes */
};

struct net_call *call_new(struct conn *c, const struct net_request *req,
                          const struct net_origin *origin)
{
    size_t total = 0;
    for (uint32_t i = 0; i < req->n_args; i++)
        total += req->args[i].len;
    struct net_call *call = malloc(sizeof *call + total);
    if (call == NULL)
        return NULL;
    memset(call, 0, sizeof *call);
    call->req = *req;
    /* (A bounded copy, not snprintf: this runs for every request.) */
    size_t op_len = strnlen(req->op, sizeof call->op - 1);
    memcpy(call->op, req->op, op_len);
    call->op[op_len] = '\0';
    call->req.op = call->op;
    size_t off = 0;
    for (uint32_t i = 0; i < req->n_args; i++) {
        call->args[i].len = req->args[i].len;
        call->args[i].data = req->args[i].len ? call->data + off : NULL;
        if (req->args[i].len)
            memcpy(call->data + off, req->args[i].data, req->args[i].len);
        off += req->args[i].len;
    }
    call->req.args = call->args;
    call->origin = *origin;
    call->conn = c;
    call->next = c->served;
    if (c->served)
        c->served->prev = call;
    c->served = call;
    return call;
}

const struct net_request *call_request(const struct net_call *call)
{
    return &call->req;
}

const struct net_origin *call_origin(const struct net_call *call)
{
    return &call->origin;
}

void call_detach_all(struct conn *c)
{
    while (c->served) {
        struct net_call *call = c->served;
        c->served = call->next;
        call->next = call->prev = NULL;
        call->conn = NULL;
    }
}

static void unlink_call(struct net_call *call)
{
    struct conn *c = call->conn;
    if (c == NULL)
        return;
    if (call->prev)
        call->prev->next = call->next;
    else
        c->served = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->conn = NULL;
}

static int send_reply(struct conn *c, uint64_t id, const struct net_reply *rep)
{
    struct wire_header h = {NET_PROTOCOL_VERSION, c->my_mesh, c->my_node,
                            WIRE_REPLY};
    struct net_reply r = *rep;
    uint8_t *body;
    size_t n;
    r.id = id;
    int rc = wire_encode_reply(&h, &r, c->frame_bytes_max, &body, &n);
    if (rc < 0)
        return rc;
    rc = conn_queue_body(c, body, n, 0);
    free(body);
    return rc;
}

int net_reply_send(struct net_call *call, const struct net_reply *reply)
{
    struct conn *c = call->conn;
    int rc = -PM_ECLOSED;
    unlink_call(call);
    if (c != NULL && c->state != CS_CLOSED) {
        rc = send_reply(c, call->req.id, reply);
        if (rc == -PM_ETOOBIG || rc == -PM_EINVAL) {
            /* Tell the requester something rather than leave it waiting. */
            static const char msg[] = "reply too large or malformed";
            struct net_reply e = {0, rc, (const uint8_t *)msg,
                                  (uint32_t)strlen(msg)};
            send_reply(c, call->req.id, &e);
        }
    }
    free(call);
    return rc;
}

int net_reply_error(struct net_call *call, int status, const char *message)
{
    struct net_reply r = {0, status > 0 ? -status : status,
                          (const uint8_t *)message,
                          message ? (uint32_t)strlen(message) : 0};
    return net_reply_send(call, &r);
}
