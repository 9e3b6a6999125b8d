import { randomUUID } from "node:crypto";

export type Todo = { id: string; title: string; done: boolean; createdBy: string; createdAt: string };

const MAX_TENANTS = 1000;
const MAX_TODOS_PER_TENANT = 500;

export class DuplicateTitleError extends Error {}
export class FullError extends Error {}

/** The demo upstream's data: todo lists per tenant, in memory and bounded. */
export class TodoStore {
  private readonly tenants = new Map<string, Map<string, Todo>>();

  list(tenantId: string, done?: boolean): Todo[] {
    const todos = [...(this.tenants.get(tenantId)?.values() ?? [])];
    return done === undefined ? todos : todos.filter((todo) => todo.done === done);
  }

  get(tenantId: string, id: string): Todo | undefined {
    return this.tenants.get(tenantId)?.get(id);
  }

  create(tenantId: string, userId: string, title: string): Todo {
    let todos = this.tenants.get(tenantId);
    if (todos === undefined) {
      if (this.tenants.size >= MAX_TENANTS) throw new FullError("too many tenants");
      todos = new Map();
      this.tenants.set(tenantId, todos);
    }
    if ([...todos.values()].some((todo) => todo.title === title)) throw new DuplicateTitleError(title);
    if (todos.size >= MAX_TODOS_PER_TENANT) throw new FullError("too many todos");
    const todo = { id: randomUUID(), title, done: false, createdBy: userId, createdAt: new Date().toISOString() };
    todos.set(todo.id, todo);
    return todo;
  }

  update(tenantId: string, id: string, patch: { title?: string; done?: boolean }): Todo | undefined {
    const todo = this.get(tenantId, id);
    if (todo === undefined) return undefined;
    if (
      patch.title !== undefined &&
      patch.title !== todo.title &&
      this.list(tenantId).some((t) => t.title === patch.title)
    ) {
      throw new DuplicateTitleError(patch.title);
    }
    Object.assign(todo, patch);
    return todo;
  }

  delete(tenantId: string, id: string): boolean {
    return this.tenants.get(tenantId)?.delete(id) ?? false;
  }
}
