/** Three pages, each its own path (the gateway answers the console for any non-API path). */
import { useEffect, useState } from 'preact/hooks';

export type Page = 'lanes' | 'day' | 'audit';
export const PATHS: Record<Page, string> = { lanes: '/', day: '/day', audit: '/audit' };

export function pageOf(pathname: string): Page {
  if (pathname.startsWith('/day')) return 'day';
  if (pathname.startsWith('/audit')) return 'audit';
  return 'lanes';
}

export function navigate(page: Page): void {
  if (pageOf(location.pathname) === page) return;
  history.pushState(null, '', PATHS[page]);
  dispatchEvent(new PopStateEvent('popstate'));
}

export function usePage(): Page {
  const [page, setPage] = useState<Page>(pageOf(location.pathname));
  useEffect(() => {
    const update = (): void => setPage(pageOf(location.pathname));
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return page;
}
