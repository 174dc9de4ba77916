// A parser for the text/event-stream format, as the HTML standard describes it, for
// streams read with fetch(): feed it text as it arrives, in chunks split anywhere.

export class EventStreamParser {
  /**
   * onEvent({type, data, lastEventId}) runs for each complete event;
   * onRetry(ms) for each `retry:` field.
   */
  constructor(onEvent, onRetry = () => {}) {
    this.onEvent = onEvent;
    this.onRetry = onRetry;
    /** The id of the last event seen, kept across events as the standard asks. */
    this.lastEventId = null;
    this.buffer = '';
    this.data = [];
    this.type = '';
    this.id = null;
  }

  feed(text) {
    this.buffer += text;
    // A trailing '\r' may be the first half of '\r\n': hold it back until the next chunk.
    const held = this.buffer.endsWith('\r') ? '\r' : '';
    const lines = (held ? this.buffer.slice(0, -1) : this.buffer).split(/\r\n|\r|\n/);
    this.buffer = lines.pop() + held;
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return; // a comment, such as the heartbeat
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.onRetry(Number(value));
  }

  dispatch() {
    if (this.id !== null) this.lastEventId = this.id;
    const data = this.data;
    const type = this.type;
    this.data = [];
    this.type = '';
    this.id = null;
    if (data.length === 0) return;
    this.onEvent({ type: type || 'message', data: data.join('\n'), lastEventId: this.lastEventId });
  }
}
